import type { Connection } from '../model/connection.js';

/** Which spans are made: see `SocklifeOptions.spans`. */
export type SpanPolicy = 'findings' | 'anomalies' | 'all';

export const SPAN_POLICIES: readonly SpanPolicy[] = ['findings', 'anomalies', 'all'];

/** A half-close longer than this is notable. */
export const SLOW_HALF_CLOSE_MS = 1000;

/**
 * Whether a closed connection is worth its spans under the `anomalies` policy: it ended by
 * reset, error or timeout; its handshake failed or took longer than `slowHandshakeMs`; or its
 * half-close carried data after the first FIN or lasted longer than a second.
 */
export function isNotable(c: Connection, slowHandshakeMs: number): boolean {
  if (c.closeReason === 'reset' || c.closeReason === 'error' || c.closeReason === 'timeout') return true;
  if (c.side === 'client' && (c.connectedAt === undefined || c.connectedAt - c.createdAt > slowHandshakeMs)) return true;
  const first = c.firstFin;
  if (first === undefined) return false;
  const last = c.secondFin ?? { at: c.closedAt ?? first.at, bytesRead: c.bytesRead, bytesWritten: c.bytesWritten };
  return last.bytesRead > first.bytesRead || last.bytesWritten > first.bytesWritten || last.at - first.at > SLOW_HALF_CLOSE_MS;
}
