import { guarded } from '../notify.js';
import type { KernelSocketRow } from '../observe/kernel/rows.js';
import type { KernelQuery } from '../observe/kernel/query.js';
import { TcpState } from '../tcp-states.js';
import type { Connection, IndexedConnection, StateChange } from './connection.js';
import { canReach } from './transitions.js';
import { TupleIndex } from './tuple-index.js';

/** The states a socket can be in after Node closed it. */
export const AFTER_CLOSE_STATES: readonly TcpState[] = [TcpState.FinWait1, TcpState.FinWait2, TcpState.Closing, TcpState.TimeWait, TcpState.LastAck];
const AFTER_CLOSE: ReadonlySet<TcpState> = new Set(AFTER_CLOSE_STATES);

/**
 * Closed connections followed in the kernel at once; each poll asks for all their port pairs.
 * A close while the list is full is not followed: under churn this samples, at no cost per connection.
 */
export const MAX_AFTER_CLOSE = 64;

/** A closed connection the kernel may still hold, and what polls saw of it. */
interface Followed {
  readonly connection: IndexedConnection;
  readonly sightings: StateChange[];
}

/**
 * Follows connections after Node's `'close'`, while the kernel may still hold them
 * (TIME_WAIT, an orphan finishing its FIN exchange), by their exact port pairs. When a poll
 * no longer shows a followed connection, `onDone` gets what the polls saw (the last `closed`;
 * none when no poll saw it there).
 */
export class AfterCloseFollower {
  private readonly followed = new Map<Connection, Followed>();
  private readonly byTuple = new TupleIndex<IndexedConnection>();

  constructor(private readonly onDone: (connection: Connection, sightings: readonly StateChange[]) => void) {}

  get size(): number {
    return this.followed.size;
  }

  /** Starts following `c`; false when the list is full or its endpoints are unknown. */
  follow(c: Connection): boolean {
    if (this.followed.size >= MAX_AFTER_CLOSE || c.local === undefined || c.peer === undefined) return false;
    const indexed = c as IndexedConnection;
    this.followed.set(c, { connection: indexed, sightings: [] });
    this.byTuple.set(indexed);
    return true;
  }

  /** What the next poll must ask for, or undefined when nothing is followed. */
  need(): KernelQuery | undefined {
    if (this.followed.size === 0) return undefined;
    const portPairs = [...this.followed.values()].map((f) => ({ localPort: f.connection.local.port, peerPort: f.connection.peer.port }));
    return { states: AFTER_CLOSE_STATES, portPairs };
  }

  /**
   * Applies a poll that asked for `asked` (this follower's need at the time), among whatever
   * else the poll asked for. A connection the poll no longer shows has left the kernel: its
   * after-close timeline is complete.
   */
  apply(rows: readonly KernelSocketRow[], time: number, asked: KernelQuery): void {
    const askedPairs = new Set((asked.portPairs ?? []).map((p) => portPairKey(p.localPort, p.peerPort)));
    const seen = new Set<Connection>();
    for (const row of rows) {
      if (!AFTER_CLOSE.has(row.state) || !askedPairs.has(portPairKey(row.local.port, row.peer.port))) continue;
      const c = this.byTuple.get(row.local, row.peer);
      const entry = c === undefined ? undefined : this.followed.get(c);
      if (c === undefined || entry === undefined) continue;
      seen.add(c);
      // Node's view ended at 'close'; from here only the kernel's own order counts.
      const last = entry.sightings.at(-1)?.state;
      if (last === undefined || (row.state !== last && canReach(last, row.state))) {
        entry.sightings.push({ state: row.state, source: 'kernel', time });
      }
    }
    for (const [c, entry] of this.followed) {
      if (seen.has(c) || !askedPairs.has(portPairKey(entry.connection.local.port, entry.connection.peer.port))) continue;
      this.drop(c);
      if (entry.sightings.length > 0) entry.sightings.push({ state: TcpState.Closed, source: 'kernel', time });
      guarded('an after-close listener', () => this.onDone(c, entry.sightings), undefined);
    }
  }

  clear(): void {
    this.followed.clear();
    this.byTuple.clear();
  }

  private drop(c: Connection): void {
    this.followed.delete(c);
    this.byTuple.delete(c as IndexedConnection);
  }
}

function portPairKey(localPort: number, peerPort: number): number {
  return localPort * 65536 + peerPort;
}
