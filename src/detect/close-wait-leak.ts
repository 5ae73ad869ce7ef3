import type { Connection } from '../model/connection.js';
import type { ConnectionModel } from '../model/tracker.js';
import type { KernelNeed } from '../observe/kernel/query.js';
import { TcpState } from '../tcp-states.js';
import type { Detector, PollContext } from './detector.js';
import { agedSocket, pastThreshold, unreadDataBytes } from './kernel-rules.js';
import type { KernelSnapshot, SnapshotCloseWait } from './snapshot.js';
import type { CloseWaitCause, CloseWaitLeak } from './close-wait-finding.js';

export type { CloseWaitCause, CloseWaitLeak } from './close-wait-finding.js';

const CLOSE_WAIT: readonly TcpState[] = [TcpState.CloseWait];

/**
 * Finds CLOSE_WAIT leaks. A closing application leaves CLOSE_WAIT within milliseconds, so
 * a connection still there after `thresholdMs` is one the code forgot. Each leak is reported
 * once. `end_not_called` is proved by socket events alone; `not_read_to_eof` needs the
 * kernel, which it asks for only while a socket is not read or a connection sits in CLOSE_WAIT.
 */
export class CloseWaitLeakDetector implements Detector {
  readonly name = 'close_wait_leak';
  private readonly reported = new WeakSet<Connection>();

  constructor(private readonly thresholdMs: number) {}

  fromEvents(context: Omit<PollContext, 'counters'>): CloseWaitLeak[] {
    return this.scan(context.model, context.time);
  }

  need(context: PollContext): KernelNeed | undefined {
    const { model } = context;
    if (model.connectionsIn(TcpState.CloseWait).size === 0 && !model.hasUnreadSockets()) return undefined;
    return model.portsQuery(CLOSE_WAIT);
  }

  fromKernel(context: PollContext): CloseWaitLeak[] {
    return this.scan(context.model, context.time);
  }

  /**
   * Every CLOSE_WAIT socket at least the threshold old (tcp_info lastack), or of unknown age.
   * Without Node's events the cause is read from Recv-Q: empty, the application read the FIN
   * (its `'end'`) and did not close; not empty, the FIN sits unread behind the data.
   */
  fromSnapshot(snapshot: KernelSnapshot): SnapshotCloseWait[] {
    const found: SnapshotCloseWait[] = [];
    for (const { row } of snapshot.rows) {
      if (row.state !== TcpState.CloseWait) continue;
      const socket = agedSocket(row, snapshot.agesKnown);
      if (!pastThreshold(socket.ageMs, this.thresholdMs)) continue;
      found.push({ type: 'close_wait_leak', socket, cause: row.recvQ > 0 ? 'not_read_to_eof' : 'end_not_called', thresholdMs: this.thresholdMs });
    }
    return found;
  }

  private scan(model: ConnectionModel, time: number): CloseWaitLeak[] {
    const leaks: CloseWaitLeak[] = [];
    for (const c of model.connectionsIn(TcpState.CloseWait)) {
      const leak = this.check(c, time);
      if (leak === undefined) continue;
      // Named by its endpoints in the report: asked for now, while the socket can still say them.
      model.endpointsOf(c);
      model.requestHandlerOf(c);
      this.reported.add(c);
      leaks.push(leak);
    }
    return leaks;
  }

  private check(c: Connection, time: number): CloseWaitLeak | undefined {
    const socket = c.socket;
    // A socket on its way out (end() or destroy() called, writes still flushing) is closing, not leaking.
    if (this.reported.has(c) || socket === undefined || c.endCalledAt !== undefined || c.destroyCalledAt !== undefined) {
      return undefined;
    }
    let cause: CloseWaitCause;
    let since: number;
    if (c.peerFinAt !== undefined) {
      cause = 'end_not_called';
      since = c.peerFinAt;
    } else {
      // Only the kernel can say CLOSE_WAIT without 'end'; the latest poll must still say so.
      if (c.kernelCloseWaitPolls === 0) return undefined;
      cause = 'not_read_to_eof';
      since = c.stateSince;
    }
    const durationMs = time - since;
    if (durationMs < this.thresholdMs) return undefined;
    const kernelFresh = c.kernel !== undefined && c.kernelCloseWaitPolls > 0;
    return {
      type: 'close_wait_leak',
      connection: c,
      cause,
      since,
      durationMs,
      unreadKernelBytes: kernelFresh ? unreadDataBytes({ state: TcpState.CloseWait, recvQ: c.kernel?.row.recvQ ?? 0 }) : undefined,
      unreadNodeBytes: socket.readableLength,
      readMode: socket.readableFlowing === true ? 'flowing' : socket.isPaused() ? 'paused' : 'not_started',
      detectedAt: time,
    };
  }
}
