import { TcpState } from '../tcp-states.js';
import type { Connection } from './connection.js';

/** A destination's open HTTP client connections: with a request in flight, and idle in the pool. */
export interface PoolConnectionCount {
  /** The host the application asked for (a name or an address). */
  readonly host: string | undefined;
  readonly port: number | undefined;
  active: number;
  idle: number;
}

/**
 * Counts the open HTTP client connections (those that carried a request) by destination, from
 * the live connections: read when metrics are collected, never kept up per request.
 */
export function poolConnectionCounts(live: Iterable<Connection>): PoolConnectionCount[] {
  const byKey = new Map<string, PoolConnectionCount>();
  for (const c of live) {
    const h = c.http;
    if (h === undefined || c.side !== 'client' || c.state === TcpState.Closed) continue;
    const host = c.target?.host ?? c.peer?.address;
    const port = c.target?.port ?? c.peer?.port;
    const key = `${host ?? ''} ${port ?? ''}`;
    let count = byKey.get(key);
    if (count === undefined) {
      count = { host, port, active: 0, idle: 0 };
      byKey.set(key, count);
    }
    if (h.inFlight) count.active++;
    else count.idle++;
  }
  return [...byKey.values()];
}
