import type { Context } from '@opentelemetry/api';
import type { Connection, StateChange } from '../model/connection.js';
import type { StateSource, TcpState } from '../tcp-states.js';
import type { ConnectionSpans, ConnectionSpanWriter } from './connection-spans.js';

/**
 * A connection whose spans wait until it turns out notable (the `anomalies` policy): the
 * parent context it was opened in, and its state changes with their real times. Everything
 * else its spans need is on the record.
 */
export class DeferredSpans {
  /**
   * The state changes, flat: state, source and time of each in turn, in an array of exactly
   * their length (`concat`). Every healthy connection holds this until it closes: an object per
   * change, or the spare room `push` leaves, cost it about 200 bytes more.
   */
  private entries: readonly (TcpState | StateSource | number)[] = NO_ENTRIES;
  constructor(readonly parent: Context) {}

  add(change: StateChange): void {
    this.entries = this.entries.concat(change.state, change.source, change.time);
  }

  /** The changes in the order they happened. */
  changes(): StateChange[] {
    const changes: StateChange[] = [];
    for (let i = 0; i + 2 < this.entries.length; i += 3) {
      changes.push({ state: this.entries[i] as TcpState, source: this.entries[i + 1] as StateSource, time: this.entries[i + 2] as number });
    }
    return changes;
  }
}
const NO_ENTRIES: readonly (TcpState | StateSource | number)[] = Object.freeze([]);

/**
 * Makes a deferred connection's spans as `all` would have made them: what it saw, each with
 * its real time, written by the same writer. Spans only: its metrics were recorded as it went.
 * Undefined when the SDK does not record them.
 */
export function materialize(c: Connection, deferred: DeferredSpans, writer: ConnectionSpanWriter): ConnectionSpans | undefined {
  const spans = writer.start(c, deferred.parent);
  if (spans === undefined) return undefined;
  if (c.lookup !== undefined) writer.lookedUp(spans, c);
  for (const change of deferred.changes()) writer.stateChanged(spans, c, change);
  if (c.firstFin !== undefined) writer.finSeen(spans, c, c.firstFin);
  if (c.secondFin !== undefined) writer.finSeen(spans, c, c.secondFin);
  return spans;
}
