import type { CreationStack } from '../observe/creation-stack.js';
import type { ConnectionEndpoint } from '../observe/endpoints.js';
import type { KernelSocketRow } from '../observe/kernel/rows.js';
import type { KernelSourceName } from '../observe/kernel/source.js';
import type { StackSite } from '../observe/stack-sampling.js';
import type { SocketSide } from '../observe/socket-events.js';
import { TcpState, type StateSource } from '../tcp-states.js';
import type { SocketView } from '../observe/socket-view.js';
import type { HttpActivity } from './http-activity-record.js';

export type { ConnectionEndpoint } from '../observe/endpoints.js';

/** One recorded change of state. */
export interface StateChange {
  readonly state: TcpState;
  readonly source: StateSource;
  /** Epoch milliseconds. */
  readonly time: number;
}

/** What the kernel last said about this connection: the row (its tcp_info is parsed on first use). */
export interface KernelView {
  readonly source: KernelSourceName;
  readonly row: KernelSocketRow;
  /** Epoch milliseconds of the poll. */
  readonly seenAt: number;
}

/** How a connection ended, as far as Node saw it. */
export type CloseReason = 'fin' | 'reset' | 'error' | 'timeout' | 'destroyed';

/** A FIN, with the byte counters at that moment (to measure what moved during a half-close). */
export interface FinMark {
  readonly by: 'local' | 'peer';
  readonly at: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

/** A host-name resolution before connecting. */
export interface LookupRecord {
  readonly host: string;
  readonly address: string | undefined;
  readonly error: Error | undefined;
  readonly at: number;
}

/**
 * The per-connection record that merges socket events and kernel rows. Only the model writes
 * it (the tracker, and the parts of the model it owns); detectors and reporters read it, and
 * a reporter keeps its own state for a connection itself.
 */
export interface Connection {
  readonly id: number;
  readonly side: SocketSide;
  readonly createdAt: number;
  /**
   * Where it was made, shared by every connection made from the same place: a server's from
   * its listen(), a client's from its connect() when its stack was captured (sampled).
   */
  creationStack: CreationStack | undefined;
  /** A client's destination as the stack sampling knows it: the last stack captured for it. */
  stackSite: StackSite | undefined;
  /** The socket while it is open; dropped at `'close'` so the record holds no handle. */
  socket: SocketView | undefined;
  state: TcpState;
  stateSource: StateSource;
  stateSince: number;
  /** True once the kernel showed CLOSING: both FINs crossed. */
  sawClosing: boolean;
  /**
   * The endpoints, learned only when something needs them (a recording span, a kernel row to
   * match, a leak report): reading them costs two system calls a connection.
   */
  local: ConnectionEndpoint | undefined;
  peer: ConnectionEndpoint | undefined;
  /** The port the kernel query filters on: a server's listening port, a client's target port. */
  filterPort: number | undefined;
  /**
   * True when the model records this connection in full, as its recording policy decided at
   * open: its endpoints are read at once, and it may be followed in the kernel after close.
   */
  recorded: boolean;
  /**
   * True when, at close, the model began to follow it in the kernel: the listener's
   * `afterClose` then comes once, when the model stops following it.
   */
  followedAfterClose: boolean;
  /** Where a client asked to connect (`connect()`'s host and port), known before the handshake. */
  target: { readonly host: string | undefined; readonly port: number | undefined } | undefined;
  /** The DNS lookup of a client that connected by host name. */
  lookup: LookupRecord | undefined;
  /** When the client handshake finished (`'connect'`). */
  connectedAt: number | undefined;
  /** When the socket's idle timeout last fired. */
  timeoutAt: number | undefined;
  /** The first FIN in either direction, and the second. */
  firstFin: FinMark | undefined;
  secondFin: FinMark | undefined;
  /** When the peer's FIN was read (`'end'`). */
  peerFinAt: number | undefined;
  /** When our FIN went out (`'finish'`). */
  localFinAt: number | undefined;
  endCalledAt: number | undefined;
  destroyCalledAt: number | undefined;
  /** True when the socket was closed with `resetAndDestroy()`. */
  resetRequested: boolean;
  closedAt: number | undefined;
  closeReason: CloseReason | undefined;
  error: Error | undefined;
  /** Bytes read and written, frozen at close. */
  bytesRead: number;
  bytesWritten: number;
  kernel: KernelView | undefined;
  /** Consecutive polls that saw this connection in CLOSE_WAIT. */
  kernelCloseWaitPolls: number;
  /** The HTTP requests it carried, from the first one on; undefined for a connection that carried none. */
  http: HttpActivity | undefined;
}

/**
 * The state a connection is in when the model first sees it, at `createdAt`, from socket
 * events: a client has called connect() (its SYN is out); the kernel finished a server's
 * handshake before accept().
 */
export function openingState(side: SocketSide): TcpState {
  return side === 'client' ? TcpState.SynSent : TcpState.Established;
}

/** A new record: every field set, in one order, so that every record has the same shape. */
export function newConnection(id: number, side: SocketSide, time: number, creationStack: CreationStack | undefined, socket: SocketView): Connection {
  return {
    id,
    side,
    createdAt: time,
    creationStack,
    stackSite: undefined,
    socket,
    state: TcpState.Closed,
    stateSource: 'socket_event',
    stateSince: time,
    sawClosing: false,
    local: undefined,
    peer: undefined,
    filterPort: undefined,
    recorded: false,
    followedAfterClose: false,
    target: undefined,
    lookup: undefined,
    connectedAt: undefined,
    timeoutAt: undefined,
    firstFin: undefined,
    secondFin: undefined,
    peerFinAt: undefined,
    localFinAt: undefined,
    endCalledAt: undefined,
    destroyCalledAt: undefined,
    resetRequested: false,
    closedAt: undefined,
    closeReason: undefined,
    error: undefined,
    bytesRead: 0,
    bytesWritten: 0,
    kernel: undefined,
    kernelCloseWaitPolls: 0,
    http: undefined,
  };
}

/** A connection whose endpoints are known, as a 4-tuple index holds it. */
export type IndexedConnection = Connection & { local: ConnectionEndpoint; peer: ConnectionEndpoint };
