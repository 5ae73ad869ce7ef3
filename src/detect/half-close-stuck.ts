import type { Connection } from '../model/connection.js';
import { awaitingPeerFin } from '../model/inference.js';
import type { KernelSocketRow } from '../observe/kernel/rows.js';
import type { KernelNeed, PortPair } from '../observe/kernel/query.js';
import { TcpState } from '../tcp-states.js';
import type { Detector, PollContext } from './detector.js';
import { agedSocket, pastThreshold } from './kernel-rules.js';
import type { KernelSnapshot, SnapshotHalfClose } from './snapshot.js';
import type { FinWaitState, HalfCloseStuck, HalfCloseStuckCause } from './half-close-finding.js';

export type { FinWaitState, HalfCloseStuck, HalfCloseStuckCause } from './half-close-finding.js';

const CAUSES: Readonly<Record<FinWaitState, HalfCloseStuckCause>> = {
  [TcpState.FinWait1]: 'fin_not_acknowledged',
  [TcpState.FinWait2]: 'peer_not_closing',
};

const FIN_WAIT: readonly TcpState[] = [TcpState.FinWait1, TcpState.FinWait2];

/**
 * The model states a connection awaiting the peer's FIN can be in: ESTABLISHED until a poll
 * sees it (`'finish'` claims no state), then the kernel's FIN_WAIT_1/2. Any other state means
 * the kernel holds the peer's FIN (CLOSE_WAIT, LAST_ACK, CLOSING) even if Node never read it.
 */
const HALF_CLOSED_STATES: readonly TcpState[] = [TcpState.Established, TcpState.FinWait1, TcpState.FinWait2];

/** Up to this many connections the need names each one's port pair; beyond, their ports. */
export const MAX_PORT_PAIRS = 64;

/** Endpoint lookups (getsockname/getpeername) one poll makes for candidates that lack them. */
export const MAX_ENDPOINT_LOOKUPS = 256;

/**
 * Finds half-closes of ours that never finish. While some open connection has sent its FIN
 * and not seen the peer's, each poll asks the kernel for those connections' FIN_WAIT_1/2 rows
 * (the poller applies them, so the connection's timeline shows the kernel's FIN_WAIT states);
 * a connection the latest poll still shows there past `thresholdMs` is reported once.
 * Only the kernel knows FIN_WAIT: without a kernel source this finds nothing.
 */
export class HalfCloseStuckDetector implements Detector {
  readonly name = 'half_close_stuck';
  private readonly reported = new WeakSet<Connection>();
  /** Connections a poll asked for and found in neither FIN_WAIT state: the exchange moved on (the peer's FIN sits unread). */
  private readonly settled = new WeakSet<Connection>();
  /** The connections the current poll's need asked for, until its rows come back. */
  private asked: Connection[] = [];

  constructor(private readonly thresholdMs: number) {}

  need(context: PollContext): KernelNeed | undefined {
    const { model } = context;
    const candidates: Connection[] = [];
    let lookups = 0;
    for (const state of HALF_CLOSED_STATES) {
      for (const c of model.connectionsIn(state)) {
        // Nearly every open connection is ESTABLISHED without a FIN of ours: one field rules it out.
        if ((state === TcpState.Established && c.localFinAt === undefined) || !this.isCandidate(c)) continue;
        if (c.local === undefined && lookups < MAX_ENDPOINT_LOOKUPS) {
          lookups += 1;
          model.endpointsOf(c);
          model.requestHandlerOf(c);
        }
        candidates.push(c);
      }
    }
    const { need, asked } = queryFor(candidates);
    this.asked = asked;
    return need;
  }

  fromKernel(context: PollContext, rows: readonly KernelSocketRow[] | undefined): HalfCloseStuck[] {
    const asked = this.asked;
    this.asked = [];
    // No answer from the kernel: no claim either way.
    if (rows === undefined || asked.length === 0) return [];
    const fresh = new Set(rows);
    const found: HalfCloseStuck[] = [];
    for (const c of asked) {
      // The peer's FIN arrived, or the socket closed, while the kernel was read.
      if (!this.isCandidate(c)) continue;
      const row = c.kernel?.row;
      if (row === undefined || !fresh.has(row)) {
        // Asked for, matchable (endpoints known), and in neither FIN_WAIT state: since 'finish' the
        // kernel is in one or past both, and no state leads back.
        if (c.local !== undefined) this.settled.add(c);
        continue;
      }
      const stuck = this.check(c, row, context.time);
      if (stuck === undefined) continue;
      this.reported.add(c);
      found.push(stuck);
    }
    return found;
  }

  /** Every FIN_WAIT_1 and FIN_WAIT_2 socket at least the threshold old (tcp_info lastack), or of unknown age. */
  fromSnapshot(snapshot: KernelSnapshot): SnapshotHalfClose[] {
    const found: SnapshotHalfClose[] = [];
    for (const { row } of snapshot.rows) {
      if (row.state !== TcpState.FinWait1 && row.state !== TcpState.FinWait2) continue;
      const socket = agedSocket(row, snapshot.agesKnown);
      if (!pastThreshold(socket.ageMs, this.thresholdMs)) continue;
      found.push({ type: 'half_close_stuck', socket, state: row.state, cause: CAUSES[row.state], thresholdMs: this.thresholdMs });
    }
    return found;
  }

  private isCandidate(c: Connection): boolean {
    return awaitingPeerFin(c) && c.socket !== undefined && c.destroyCalledAt === undefined && !this.settled.has(c);
  }

  private check(c: Connection, row: KernelSocketRow, time: number): HalfCloseStuck | undefined {
    // The model took the row (a move the state table refused leaves it elsewhere).
    if (this.reported.has(c) || c.state !== row.state || (row.state !== TcpState.FinWait1 && row.state !== TcpState.FinWait2)) {
      return undefined;
    }
    const since = ourFinAt(c);
    const durationMs = time - since;
    if (durationMs < this.thresholdMs) return undefined;
    return { type: 'half_close_stuck', connection: c, cause: CAUSES[row.state], state: row.state, since, durationMs, detectedAt: time };
  }
}

/** When our FIN went out: Node's `'finish'`, or the kernel's FIN_WAIT sighting when that came first. */
function ourFinAt(c: Connection): number {
  const kernelFin = c.firstFin?.by === 'local' ? c.firstFin.at : undefined;
  if (c.localFinAt === undefined) return kernelFin ?? c.stateSince;
  return kernelFin === undefined ? c.localFinAt : Math.min(c.localFinAt, kernelFin);
}

/**
 * FIN_WAIT rows of exactly these connections: their port pairs when few, else their
 * listening (server) and target (client) ports; a connection with unknown endpoints is
 * asked for by its port. `asked`: the connections the need covers.
 */
function queryFor(connections: readonly Connection[]): { need: KernelNeed | undefined; asked: Connection[] } {
  const asked: Connection[] = [];
  const portPairs: PortPair[] = [];
  const localPorts = new Set<number>();
  const peerPorts = new Set<number>();
  const byPair = connections.length <= MAX_PORT_PAIRS;
  for (const c of connections) {
    if (byPair && c.local !== undefined && c.peer !== undefined) {
      portPairs.push({ localPort: c.local.port, peerPort: c.peer.port });
    } else {
      const port = c.side === 'server' ? (c.filterPort ?? c.local?.port) : (c.filterPort ?? c.peer?.port);
      if (port === undefined) continue;
      (c.side === 'server' ? localPorts : peerPorts).add(port);
    }
    asked.push(c);
  }
  if (asked.length === 0) return { need: undefined, asked };
  const need: KernelNeed = {
    states: FIN_WAIT,
    ...(localPorts.size > 0 ? { localPorts: [...localPorts] } : {}),
    ...(peerPorts.size > 0 ? { peerPorts: [...peerPorts] } : {}),
    ...(portPairs.length > 0 ? { portPairs } : {}),
  };
  return { need, asked };
}
