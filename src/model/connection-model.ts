import type { KernelQuery } from '../observe/kernel/source.js';
import type { TcpState } from '../tcp-states.js';
import type { Connection } from './connection.js';
import type { KeepAliveRace } from './keepalive-races.js';
import type { ConnectionEndpoint } from '../observe/endpoints.js';
import type { PoolDestination } from './pool-destinations.js';
import type { ServerIdlePeer } from './server-idle-closes.js';

/** What detectors read of the model: live connections, by state, with endpoints on demand. */
export interface ConnectionModel {
  /** Live connections currently in a state. */
  connectionsIn(state: TcpState): ReadonlySet<Connection>;
  liveConnections(): ReadonlySet<Connection>;
  /**
   * A live connection's endpoints: a question, answered lazily (the model learns them with two
   * system calls, once, and keeps them on its record). Undefined when they cannot be known.
   */
  endpointsOf(c: Connection): { readonly local: ConnectionEndpoint; readonly peer: ConnectionEndpoint } | undefined;
  /**
   * A server connection that carried HTTP requests: its server's request handlers by name,
   * learned once (while the socket is open) and kept on its record. Undefined otherwise.
   */
  requestHandlerOf(c: Connection): string | undefined;
  /** The keep-alive races seen on reused client connections after sequence number `seq`, oldest first (bounded). */
  keepAliveRacesSince(seq: number): readonly KeepAliveRace[];
  /** What client pools showed of each destination (bounded): the peer's idle closes, the pool's setting, reuse. */
  poolDestinations(): Iterable<PoolDestination>;
  /** One destination's, by the peer's address and port, when remembered. */
  poolDestination(address: string, port: number): PoolDestination | undefined;
  /** Peers that came right back after this process's servers closed their idle keep-alive connections (bounded). */
  serverIdlePeers(): Iterable<ServerIdlePeer>;
  /** The kernel query for this process's connections in `states`: its servers' ports and its clients' target ports. */
  portsQuery(states: readonly TcpState[]): KernelQuery | undefined;
  /**
   * True when a socket is not read (`readableFlowing` not true), so a FIN could sit in the
   * kernel with no `'end'`; a flowing socket emits `'end'` as soon as the FIN arrives.
   */
  hasUnreadSockets(): boolean;
}
