import type { Context } from '@opentelemetry/api';
import { openingState, type Connection, type StateChange } from '../model/connection.js';
import type { StateSource, TcpState } from '../tcp-states.js';
import type { ConnectionSpans, ConnectionSpanWriter } from './connection-spans.js';

/**
 * A connection whose spans wait until it turns out notable (the `anomalies` policy): the
 * parent context it was opened in, then the state, source and time of each state change after
 * the opening one (`isOpeningChange`), in one array of exactly that length (`concat`).
 * Everything else its spans need is on the record. Every healthy connection holds this until it closes: one array rather than an
 * object holding one, and no spare room `push` would leave, keeps that small.
 */
export type DeferredSpans = readonly [Context, ...(TcpState | StateSource | number)[]];

export function deferredSpans(parent: Context): DeferredSpans {
  return [parent];
}

export function isDeferred(state: ConnectionSpans | DeferredSpans | undefined): state is DeferredSpans {
  return Array.isArray(state);
}

/**
 * True for the change every connection starts with (its opening state, at `createdAt`): a
 * deferred connection keeps none, its spans take it from the record.
 */
export function isOpeningChange(c: Connection): boolean {
  return c.state === openingState(c.side) && c.stateSince === c.createdAt && c.stateSource === 'socket_event';
}

/**
 * `deferred` with the change `c` just made (its state, source and time): a new array of
 * exactly its length (the old one is let go), filled by a loop: V8 runs `concat` with
 * arguments in its C++ runtime, and an array literal with a spread leaves spare room behind
 * its last element.
 */
export function withChange(deferred: DeferredSpans, c: Connection): DeferredSpans {
  const length = deferred.length;
  const next = new Array<unknown>(length + 3);
  for (let i = 0; i < length; i++) next[i] = deferred[i];
  next[length] = c.state;
  next[length + 1] = c.stateSource;
  next[length + 2] = c.stateSince;
  return next as unknown as DeferredSpans;
}

/** The changes in the order they happened. */
function changesOf(deferred: DeferredSpans): StateChange[] {
  const changes: StateChange[] = [];
  for (let i = 1; i + 2 < deferred.length; i += 3) {
    changes.push({ state: deferred[i] as TcpState, source: deferred[i + 1] as StateSource, time: deferred[i + 2] as number });
  }
  return changes;
}

/**
 * Makes a deferred connection's spans as `all` would have made them: what it saw, each with
 * its real time, written by the same writer. Spans only: its metrics were recorded as it went.
 * Undefined when the SDK does not record them.
 */
export function materialize(c: Connection, deferred: DeferredSpans, writer: ConnectionSpanWriter): ConnectionSpans | undefined {
  const spans = writer.start(c, deferred[0]);
  if (spans === undefined) return undefined;
  if (c.lookup !== undefined) writer.lookedUp(spans, c);
  writer.stateChanged(spans, c, { state: openingState(c.side), source: 'socket_event', time: c.createdAt });
  for (const change of changesOf(deferred)) writer.stateChanged(spans, c, change);
  if (c.firstFin !== undefined) writer.finSeen(spans, c, c.firstFin);
  if (c.secondFin !== undefined) writer.finSeen(spans, c, c.secondFin);
  return spans;
}
