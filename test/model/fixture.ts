import type { Connection, FinMark, StateChange } from '../../src/model/connection.js';
import type { SocketView } from '../../src/observe/socket-view.js';
import type { ConnectionListener } from '../../src/model/listener.js';
import type { RecordingPolicy } from '../../src/model/recording-policy.js';
import { ConnectionTracker } from '../../src/model/tracker.js';
import type { KernelSocketRow, TcpInfo } from '../../src/observe/kernel/rows.js';
import { TcpState } from '../../src/tcp-states.js';

/** A socket as the model sees it: plain fields the test sets. */
export class FakeSocket implements SocketView {
  remoteAddress: string | undefined = '127.0.0.1';
  remotePort: number | undefined;
  remoteFamily: string | undefined = 'IPv4';
  localAddress: string | undefined = '127.0.0.1';
  localPort: number | undefined;
  bytesRead = 0;
  bytesWritten = 0;
  readableFlowing: boolean | null = true;
  readableLength = 0;

  constructor(localPort: number, remotePort: number) {
    this.localPort = localPort;
    this.remotePort = remotePort;
  }

  isPaused(): boolean {
    return this.readableFlowing === false;
  }

  address(): { address?: string; port?: number } {
    return this.localAddress === undefined ? {} : { address: this.localAddress, port: this.localPort as number };
  }
}

/** Everything the model told its listener, in order. */
export class RecordingListener implements ConnectionListener {
  readonly changes: Array<{ id: number } & StateChange> = [];
  readonly fins: FinMark[] = [];
  readonly afterCloses: Array<{ id: number; sightings: readonly StateChange[] }> = [];
  readonly closedIds: number[] = [];

  /**
   * Also the fixture's recording policy (`model()`): true records the connection in full. A
   * test replaces it to leave connections unrecorded, as a span policy without an SDK would.
   */
  opened(_c?: Connection): boolean {
    return true;
  }
  afterClose(c: Connection, sightings: readonly StateChange[]): void {
    this.afterCloses.push({ id: c.id, sightings });
  }
  finSeen(_c: Connection, fin: FinMark): void {
    this.fins.push(fin);
  }
  lookedUp(): void {}
  stateChanged(c: Connection): void {
    this.changes.push({ id: c.id, state: c.state, source: c.stateSource, time: c.stateSince });
  }
  closed(c: Connection): void {
    this.closedIds.push(c.id);
  }
  /** The states one connection went through, with their sources. */
  timeline(id: number): string[] {
    return this.changes.filter((c) => c.id === id).map((c) => `${c.state}/${c.source}`);
  }
}

/** A clock the test moves. */
export class Clock {
  time = 1_000_000;
  readonly now = (): number => this.time;
  advance(ms: number): number {
    this.time += ms;
    return this.time;
  }
}

export const SERVER_PORT = 8080;
export const CLIENT_PORT = 40_000;

/** A model with a recording listener and a test clock, recording every connection (unless `listener.opened` says no) and following it after close. */
export function model() {
  const listener = new RecordingListener();
  const clock = new Clock();
  const policy: RecordingPolicy = { record: (c) => listener.opened(c), followAfterClose: () => true };
  const tracker = new ConnectionTracker(listener, clock.now, policy);
  return { tracker, listener, clock };
}
export type Model = ReturnType<typeof model>;

/** A kernel row for `socket`'s 4-tuple (as seen from this side). */
export function row(socket: FakeSocket, state: TcpState, extra: { recvQ?: number; tcpInfo?: TcpInfo } = {}): KernelSocketRow {
  return {
    state,
    recvQ: extra.recvQ ?? 0,
    sendQ: 0,
    local: { address: socket.localAddress as string, port: socket.localPort as number },
    peer: { address: socket.remoteAddress as string, port: socket.remotePort as number },
    inode: 0,
    ...(extra.tcpInfo === undefined ? {} : { tcpInfo: extra.tcpInfo }),
  };
}

/** The record the model keeps for `socket`: the only live one in these fixtures. */
export function recordOf(m: Model): Connection {
  const [c] = m.tracker.liveConnections();
  if (c === undefined) throw new Error('no live connection');
  return c;
}

/** An accepted connection: ESTABLISHED (the kernel finished the handshake before accept()). */
export function serverEstablished(m: Model = model()) {
  const socket = new FakeSocket(SERVER_PORT, CLIENT_PORT);
  m.tracker.socketOpened(socket, 'server', undefined);
  return { ...m, socket, c: recordOf(m) };
}

/** A client after connect(): SYN_SENT. */
export function clientSynSent(m: Model = model()) {
  const socket = new FakeSocket(CLIENT_PORT, SERVER_PORT);
  m.tracker.socketOpened(socket, 'client', undefined);
  m.tracker.socketEvent(socket, { type: 'connect_called', host: '127.0.0.1', port: SERVER_PORT });
  return { ...m, socket, c: recordOf(m) };
}

/** A client whose handshake finished: ESTABLISHED. */
export function clientEstablished(m: Model = model()) {
  const f = clientSynSent(m);
  f.clock.advance(1);
  f.tracker.socketEvent(f.socket, { type: 'connect' });
  return f;
}

/** A server whose peer closed first ('end'): CLOSE_WAIT from socket events. */
export function serverCloseWait(m: Model = model()) {
  const f = serverEstablished(m);
  f.clock.advance(10);
  f.tracker.socketEvent(f.socket, { type: 'end' });
  return f;
}

/** A server that answered the peer's FIN with its own: LAST_ACK. */
export function serverLastAck(m: Model = model()) {
  const f = serverCloseWait(m);
  f.clock.advance(1);
  f.tracker.socketEvent(f.socket, { type: 'end_called' });
  f.tracker.socketEvent(f.socket, { type: 'finish' });
  return f;
}

/** A server that closed first: our FIN is out ('finish'), the kernel says FIN_WAIT_1. */
export function serverFinWait1(m: Model = model()) {
  const f = serverEstablished(m);
  f.clock.advance(10);
  f.tracker.socketEvent(f.socket, { type: 'end_called' });
  f.tracker.socketEvent(f.socket, { type: 'finish' });
  f.tracker.kernelRows([row(f.socket, TcpState.FinWait1)], 'ss', f.clock.advance(1));
  return f;
}

/** A server whose FIN the peer acknowledged, the peer's side still open: FIN_WAIT_2. */
export function serverFinWait2(m: Model = model()) {
  const f = serverFinWait1(m);
  f.tracker.kernelRows([row(f.socket, TcpState.FinWait2)], 'ss', f.clock.advance(100));
  return f;
}
