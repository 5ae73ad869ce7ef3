import type { Connection } from './connection.js';
import { keepAliveHintMs } from './http-activity.js';

/** Idle closes and reuse gaps kept per destination: the newest go in, the oldest out. */
export const MAX_SAMPLES = 32;
/** Destinations remembered at once; beyond, the one least recently heard of is dropped. */
export const MAX_DESTINATIONS = 256;

/**
 * What a client process learned of one destination's pool: how long the peer lets an idle
 * pooled connection live before it closes it (its idle timeout, as this side measured it),
 * the pool's own idle timeout, and how the pool reuses its connections.
 */
export interface PoolDestination {
  /** `address:port`: the peer's address as far as the model knows it (peer, DNS answer, or the host asked). */
  readonly key: string;
  readonly address: string | undefined;
  /** The host the application asked for (a name or an address): `server.address` of the pool metrics. */
  readonly host: string | undefined;
  readonly port: number | undefined;
  /** How long each connection the peer closed idle had sat idle (ms), oldest first, at most `MAX_SAMPLES`. */
  readonly idleCloses: number[];
  /** Each closed connection's longest reuse gap (ms): the longest a request waited on it idle before reusing it; oldest first. */
  readonly reuseGaps: number[];
  /** Epoch ms of the first idle close by the peer. */
  firstIdleCloseAt: number | undefined;
  /** The pool's idle timeout (ms) the last pooled connection had; undefined: none known (forever, for an `http.Agent`). */
  poolIdleTimeoutMs: number | undefined;
  /** True when the pool's setting was read (an `http.Agent`'s, or undici's); false when it could not be. */
  poolKnown: boolean;
  /** The server's `Keep-Alive: timeout=` hint (ms), the last one it sent. */
  serverHintMs: number | undefined;
  /** Connections that carried requests, closed so far. */
  connections: number;
  /** Requests those connections carried. */
  requests: number;
}

/**
 * The client pools' destinations, bounded: learned when the peer closes an idle pooled
 * connection (its FIN with nothing in flight) and when a connection that carried requests
 * closes. Nothing here runs per request.
 */
export class PoolDestinations {
  private readonly byKey = new Map<string, PoolDestination>();

  get size(): number {
    return this.byKey.size;
  }

  /** The peer closed `c` while it sat idle in its pool since `idleSince`: one sample of its idle timeout. */
  peerClosedIdle(c: Connection, idleMs: number, time: number): void {
    const d = this.of(c);
    if (d === undefined) return;
    push(d.idleCloses, idleMs);
    d.firstIdleCloseAt ??= time;
    this.pooledBy(d, c);
  }

  /** A client connection that carried requests closed. */
  connectionClosed(c: Connection): void {
    const h = c.http;
    if (h === undefined) return;
    const d = this.of(c);
    if (d === undefined) return;
    d.connections++;
    d.requests += h.requests;
    if (h.longestReuseGapMs !== undefined) push(d.reuseGaps, h.longestReuseGapMs);
    this.pooledBy(d, c);
  }

  /** The destinations, least recently heard of first. */
  all(): IterableIterator<PoolDestination> {
    return this.byKey.values();
  }

  /** The destination at `address` and `port`, when one is remembered. */
  get(address: string, port: number): PoolDestination | undefined {
    return this.byKey.get(`${address}:${port}`);
  }

  clear(): void {
    this.byKey.clear();
  }

  private pooledBy(d: PoolDestination, c: Connection): void {
    const h = c.http;
    if (h === undefined) return;
    if (h.poolTimeoutRead) {
      d.poolKnown = true;
      d.poolIdleTimeoutMs = h.poolIdleTimeoutMs;
    }
    const hint = keepAliveHintMs(h.keepAliveHeader);
    if (hint !== undefined) d.serverHintMs = hint;
  }

  private of(c: Connection): PoolDestination | undefined {
    const address = c.peer?.address ?? c.lookup?.address ?? c.target?.host;
    const port = c.peer?.port ?? c.target?.port;
    if (address === undefined || port === undefined) return undefined;
    const key = `${address}:${port}`;
    let d = this.byKey.get(key);
    if (d !== undefined) {
      // Most recently heard of last: the first in the map is the one to drop.
      this.byKey.delete(key);
      this.byKey.set(key, d);
      return d;
    }
    if (this.byKey.size >= MAX_DESTINATIONS) {
      const first = this.byKey.keys().next();
      if (first.done !== true) this.byKey.delete(first.value);
    }
    d = {
      key,
      address,
      host: c.target?.host ?? address,
      port,
      idleCloses: [],
      reuseGaps: [],
      firstIdleCloseAt: undefined,
      poolIdleTimeoutMs: undefined,
      poolKnown: false,
      serverHintMs: undefined,
      connections: 0,
      requests: 0,
    };
    this.byKey.set(key, d);
    return d;
  }
}

function push(samples: number[], value: number): void {
  if (samples.length >= MAX_SAMPLES) samples.shift();
  samples.push(value);
}

/** A distribution of samples: how many, the smallest, the median, the largest. */
export interface Distribution {
  readonly count: number;
  readonly min: number;
  readonly median: number;
  readonly max: number;
}

export function distributionOf(samples: readonly number[]): Distribution | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { count: sorted.length, min: sorted[0] as number, median, max: sorted[sorted.length - 1] as number };
}
