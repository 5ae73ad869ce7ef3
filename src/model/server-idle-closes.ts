import type { Connection } from './connection.js';

/** Idle closes waiting for their peer to come back, and peers remembered, at once. */
export const MAX_PEERS = 256;
/** Reuse gaps kept per peer. */
const MAX_GAPS = 32;
/** A peer that comes back within this long after an idle close (or the server's idle timeout, when longer, up to `MAX_WINDOW_MS`) came "right after" it. */
const MIN_WINDOW_MS = 1000;
const MAX_WINDOW_MS = 10_000;

/** An idle keep-alive connection this server closed, waiting to see whether its peer comes right back. */
interface PendingClose {
  readonly closedAt: number;
  /** When the connection went idle (its last response ended). */
  readonly idleSince: number;
  readonly windowMs: number;
  readonly keepAliveTimeoutMs: number | undefined;
}

/** What a server learned of one peer whose idle connections it closes. */
export interface ServerIdlePeer {
  /** `address:port` of the listener and the peer's address. */
  readonly key: string;
  readonly peerAddress: string;
  readonly listenPort: number | undefined;
  /** The server's `keepAliveTimeout` (ms) at the last idle close, when it has one. */
  keepAliveTimeoutMs: number | undefined;
  /** Idle closes followed by a new connection from the peer within the window. */
  reconnects: number;
  /** The reuse gaps those showed (ms): from the last response on the closed connection to the peer's new connection; oldest first. */
  readonly reuseGaps: number[];
  /** Epoch ms of the first such idle close. */
  firstAt: number | undefined;
}

/**
 * The idle keep-alive connections a server closed, and the peers that reconnected right
 * after: a peer (a client, a load balancer) that keeps its connections longer than the
 * server. Touched at an idle close and, only while an idle close is pending, at accept.
 */
export class ServerIdleCloses {
  private readonly pending = new Map<string, PendingClose>();
  private readonly peers = new Map<string, ServerIdlePeer>();
  /** Epoch ms of the last sweep of expired pending closes: at most one a second, not one per accept. */
  private prunedAt = 0;

  /** True while an idle close waits for its peer: only then does an accepted connection need its peer's address. */
  get waiting(): boolean {
    return this.pending.size > 0;
  }

  /** This server closed `c` idle at `time` (its idle timeout fired with no request in flight). */
  closedIdle(c: Connection, idleSince: number, keepAliveTimeoutMs: number | undefined, time: number): void {
    const address = c.peer?.address;
    if (address === undefined) return;
    const key = keyOf(c, address);
    if (!this.pending.has(key) && this.pending.size >= MAX_PEERS) this.dropFirst(this.pending);
    const windowMs = Math.min(MAX_WINDOW_MS, Math.max(MIN_WINDOW_MS, keepAliveTimeoutMs ?? 0));
    this.pending.set(key, { closedAt: time, idleSince, windowMs, keepAliveTimeoutMs });
  }

  /** A server connection was accepted at `time` from a peer whose address is known: did it come right back after an idle close? */
  accepted(c: Connection, time: number): void {
    const address = c.peer?.address;
    if (address === undefined) return;
    const key = keyOf(c, address);
    const close = this.pending.get(key);
    this.prune(time);
    if (close === undefined || time - close.closedAt > close.windowMs) return;
    this.pending.delete(key);
    let peer = this.peers.get(key);
    if (peer === undefined) {
      if (this.peers.size >= MAX_PEERS) this.dropFirst(this.peers);
      peer = {
        key,
        peerAddress: address,
        listenPort: c.local?.port ?? c.filterPort,
        keepAliveTimeoutMs: close.keepAliveTimeoutMs,
        reconnects: 0,
        reuseGaps: [],
        firstAt: undefined,
      };
      this.peers.set(key, peer);
    }
    peer.keepAliveTimeoutMs = close.keepAliveTimeoutMs;
    peer.reconnects++;
    peer.firstAt ??= close.closedAt;
    if (peer.reuseGaps.length >= MAX_GAPS) peer.reuseGaps.shift();
    peer.reuseGaps.push(time - close.idleSince);
  }

  all(): IterableIterator<ServerIdlePeer> {
    return this.peers.values();
  }

  clear(): void {
    this.pending.clear();
    this.peers.clear();
  }

  private prune(time: number): void {
    if (time - this.prunedAt < MIN_WINDOW_MS) return;
    this.prunedAt = time;
    for (const [key, close] of this.pending) {
      if (time - close.closedAt > close.windowMs) this.pending.delete(key);
    }
  }

  private dropFirst(map: Map<string, unknown>): void {
    const first = map.keys().next();
    if (first.done !== true) map.delete(first.value);
  }
}

function keyOf(c: Connection, address: string): string {
  return `${c.local?.port ?? c.filterPort ?? ''}/${address}`;
}
