import type { KernelSocketRow } from '../observe/kernel/rows.js';
import type { KernelSourceName } from '../observe/kernel/source.js';
import type { SocketView } from '../observe/socket-view.js';
import { TcpState, type StateSource } from '../tcp-states.js';
import type { Connection } from './connection.js';
import type { EndpointLearning } from './endpoint-learning.js';
import { finProvedByKernelState, kernelEntryTime } from './inference.js';
import type { LiveConnections } from './live-index.js';

/** The tracker's two ways of changing a record's story, which kernel rows go through too. */
export interface StateMoves {
  setState(c: Connection, state: TcpState, source: StateSource, time: number): boolean;
  markFin(c: Connection, socket: SocketView, by: 'local' | 'peer', at: number): void;
}

/**
 * Applies one poll's rows to the live connections. Rows of other processes find no record
 * and are ignored here (detectors that asked for them read them). A 4-tuple is unique within
 * the network namespace the source reads (this process's), so the tuple alone identifies the socket.
 */
export class KernelRowApplier {
  constructor(
    private readonly index: LiveConnections,
    private readonly endpoints: EndpointLearning,
    private readonly moves: StateMoves,
  ) {}

  apply(rows: readonly KernelSocketRow[], source: KernelSourceName, time: number): void {
    if (rows.length > 0) this.endpoints.learnCandidates(rows);
    const seenInCloseWait = new Set<Connection>();
    for (const row of rows) {
      const c = this.index.byEndpoints(row.local, row.peer);
      if (c === undefined) continue;
      c.kernel = { source, row, seenAt: time };
      if (row.state === TcpState.CloseWait) seenInCloseWait.add(c);
      if (row.state === TcpState.Closing) c.sawClosing = true;
      if (row.state === c.state) continue;
      const at = kernelEntryTime(c, row, time);
      const changed = this.moves.setState(c, row.state, 'kernel', at);
      // A FIN Node has not surfaced (a paused stream's, or ours still queued) is dated like the state.
      const finBy = finProvedByKernelState(row.state);
      if (changed && finBy !== undefined && c.socket !== undefined) this.moves.markFin(c, c.socket, finBy, at);
    }
    for (const c of this.index.connectionsIn(TcpState.CloseWait)) {
      c.kernelCloseWaitPolls = seenInCloseWait.has(c) ? c.kernelCloseWaitPolls + 1 : 0;
    }
  }
}
