import type { Connection } from './connection.js';

/**
 * What the model records of a connection beyond its states: configuration, given once by the
 * engine (which builds it from the span policy). The model asks it; nobody above answers for it.
 */
export interface RecordingPolicy {
  /**
   * Asked as a connection opens, in the context of the code that opened it: record it in full?
   * A recorded connection's endpoints are read at once (a server's at open, a client's at
   * connect: two system calls), and it may be followed in the kernel after close.
   */
  record(connection: Connection): boolean;
  /**
   * Asked as a recorded connection closes, when the kernel may still hold it (TIME_WAIT, an
   * orphan): follow it there?
   */
  followAfterClose(connection: Connection): boolean;
}

/** Records nothing beyond states: endpoints are read only when a kernel row or a detector needs them. */
export const RECORD_NOTHING: RecordingPolicy = Object.freeze({ record: () => false, followAfterClose: () => false });
