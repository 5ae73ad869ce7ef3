import { isIP } from 'node:net';
import { serverOf, type ServerView, type SocketView } from './socket-view.js';
import { isWildcard, normalizeAddress } from './kernel/address.js';
import { LastHitWeakMap } from './last-hit-weak-map.js';

/** One endpoint as the model keeps it: normalised address (for matching) and port. */
export interface ConnectionEndpoint {
  readonly address: string;
  readonly port: number;
}

/** A server's listening port, and its address unless it listens on every address. */
export interface ListeningEndpoint {
  readonly port: number;
  readonly address: string | undefined;
}

/** Both ends of a connection. */
export interface Endpoints {
  readonly local: ConnectionEndpoint;
  readonly peer: ConnectionEndpoint;
}

/**
 * Learns connection endpoints from the sockets themselves (getpeername, getsockname): the
 * system calls of observation, made only when the model asks. A server's listening endpoint
 * is read once (getsockname on the server) and serves all the connections it accepts.
 */
export class EndpointReader {
  /** Read at every accept (`listeningEndpoint`). */
  private readonly listening = new LastHitWeakMap<ServerView, ListeningEndpoint>();

  /**
   * The listening endpoint of the server that accepted a socket; undefined for a pipe server.
   * Sockets without a server ask themselves.
   */
  listeningEndpoint(socket: SocketView): ListeningEndpoint | undefined {
    const server = serverOf(socket);
    if (server === undefined) return ownPort(socket);
    let endpoint = this.listening.get(server);
    if (endpoint === undefined) {
      const address = server.address();
      // A closed server has no address any more: ask the socket instead.
      if (address === null) return ownPort(socket);
      if (typeof address !== 'object' || typeof address.port !== 'number') return undefined;
      // Bound to one address, every accepted socket's local address is that one.
      const specific = typeof address.address === 'string' && !isWildcard(address.address);
      endpoint = { port: address.port, address: specific ? normalizeAddress(address.address as string) : undefined };
      this.listening.set(server, endpoint);
    }
    return endpoint;
  }

  /** A server listens anew (after a close, perhaps elsewhere): its endpoint is read again for the sockets it accepts next. */
  serverListening(server: ServerView): void {
    this.listening.delete(server);
  }

  /**
   * A connected socket's endpoints (getpeername, and getsockname unless its server listens on
   * one address). `listeningPort`: the port the socket was accepted on, so that a server which
   * listened again elsewhere since is not taken for the one that accepted it.
   */
  connected(socket: SocketView, side: 'client' | 'server', listeningPort?: number): Endpoints | undefined {
    const { remoteAddress, remotePort } = socket;
    if (remoteAddress === undefined || remotePort === undefined) return undefined;
    const server = side === 'server' ? serverOf(socket) : undefined;
    const listening = server === undefined ? undefined : this.listening.get(server);
    let local: ConnectionEndpoint;
    if (listening?.address !== undefined && (listeningPort === undefined || listening.port === listeningPort)) {
      local = { address: listening.address, port: listening.port };
    } else {
      const { localAddress, localPort } = socket;
      if (localAddress === undefined || localPort === undefined) return undefined;
      local = { address: normalizeAddress(localAddress), port: localPort };
    }
    return { local, peer: { address: normalizeAddress(remoteAddress), port: remotePort } };
  }

  /**
   * The endpoints of a client whose handshake failed: getsockname() and the connect() target
   * (`host`, resolved or literal, and `port`).
   */
  unconnected(socket: SocketView, host: string, port: number | undefined): Endpoints | undefined {
    const peerAddress = isIP(host) !== 0 ? normalizeAddress(host) : undefined;
    let local: { address?: string; port?: number } = {};
    try {
      local = socket.address() as { address?: string; port?: number };
    } catch {
      // No handle any more: the local end stays unknown.
    }
    if (local.address === undefined || !local.port || peerAddress === undefined || port === undefined) return undefined;
    return { local: { address: normalizeAddress(local.address), port: local.port }, peer: { address: peerAddress, port } };
  }
}

export function isInetFamily(family: string | undefined): boolean {
  return family === 'IPv4' || family === 'IPv6';
}

/** An accepted socket's own local port, when the server cannot say (no server, or closed). */
function ownPort(socket: SocketView): ListeningEndpoint | undefined {
  const port = isInetFamily(socket.remoteFamily) ? socket.localPort : undefined;
  return port === undefined ? undefined : { port, address: undefined };
}
