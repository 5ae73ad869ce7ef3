import type { Connection, FinMark, StateChange } from './connection.js';

/**
 * Who hears what happens to connections (reporters). The model tells; it asks nothing back:
 * what it records is its recording policy's decision, made at construction.
 */
export interface ConnectionListener {
  /** A connection opened; `connection.recorded` says whether the model records it in full. */
  opened(connection: Connection): void;
  /**
   * The model stopped following a connection after close (`connection.followedAfterClose`).
   * `sightings` are the states the kernel showed, oldest first, the last one `closed`; empty
   * when no poll saw it there.
   */
  afterClose(connection: Connection, sightings: readonly StateChange[]): void;
  /** A FIN went one way or the other (`connection.firstFin`, then `secondFin`). */
  finSeen(connection: Connection, fin: FinMark): void;
  /** A client resolved its host name (`connection.lookup`). */
  lookedUp(connection: Connection): void;
  /**
   * A connection changed state: the change is its `state`, `stateSource` and `stateSince`
   * (no object is made per change; a listener that keeps changes copies them).
   */
  stateChanged(connection: Connection): void;
  /** Node closed it; `connection.followedAfterClose` says whether the model follows it in the kernel. */
  closed(connection: Connection): void;
}
