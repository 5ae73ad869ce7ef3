import type { KernelQuery } from '../observe/kernel/source.js';
import type { TcpState } from '../tcp-states.js';
import type { Connection } from './connection.js';

/** What detectors read of the model: live connections, by state, with endpoints on demand. */
export interface ConnectionModel {
  /** Live connections currently in a state. */
  connectionsIn(state: TcpState): ReadonlySet<Connection>;
  liveConnections(): ReadonlySet<Connection>;
  /** Learns a live connection's endpoints if they are not known yet (two system calls, once). */
  ensureEndpoints(c: Connection): void;
  /** The kernel query for this process's connections in `states`: its servers' ports and its clients' target ports. */
  portsQuery(states: readonly TcpState[]): KernelQuery | undefined;
  /**
   * True when a socket is not read (`readableFlowing` not true), so a FIN could sit in the
   * kernel with no `'end'`; a flowing socket emits `'end'` as soon as the FIN arrives.
   */
  hasUnreadSockets(): boolean;
}
