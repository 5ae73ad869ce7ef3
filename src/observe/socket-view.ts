/**
 * What the model reads from a socket (through the observer): the few `net.Socket` members it needs, so that a plain
 * object can stand in for a socket in unit tests. A `net.Socket` is one.
 */
export interface SocketView {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly remoteFamily?: string | undefined;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  /** `true` while the stream is read; `null` before anything read it, `false` once paused. */
  readonly readableFlowing: boolean | null;
  /** Bytes in Node's readable buffer. */
  readonly readableLength: number;
  isPaused(): boolean;
  /** getsockname(): `{}` once the handle is gone. */
  address(): { address?: string; port?: number } | object;
}

/** The server that accepted a socket, as far as the model needs it. */
export interface ServerView {
  address(): { port?: unknown; address?: unknown } | string | null;
}

/**
 * The request handlers of the HTTP server that accepted a socket, by function name (an
 * anonymous one as `(anonymous)`): JavaScript can read a function's name, not its file and
 * line. Undefined when the socket has no such server or it has no `'request'` listener.
 */
export function requestHandlerNames(socket: SocketView): string | undefined {
  const server = (socket as SocketView & { server?: { listeners?: unknown } | null }).server;
  if (server === undefined || server === null || typeof server.listeners !== 'function') return undefined;
  const listeners: unknown = (server.listeners as (event: string) => unknown).call(server, 'request');
  if (!Array.isArray(listeners) || listeners.length === 0) return undefined;
  return listeners.map((l: unknown) => (typeof l === 'function' && l.name !== '' ? l.name : '(anonymous)')).join(', ');
}

/** The server that accepted a socket, when Node recorded one (`socket.server`). */
export function serverOf(socket: SocketView): ServerView | undefined {
  const server = (socket as SocketView & { server?: { address?: unknown } | null }).server;
  return server !== undefined && server !== null && typeof server.address === 'function' ? (server as ServerView) : undefined;
}
