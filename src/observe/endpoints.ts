import { isIP } from 'node:net';
import { serverOf, type ServerView, type SocketView } from './socket-view.js';
import { isWildcard, normalizeAddress } from './kernel/address.js';

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
  private readonly listening = new WeakMap<ServerView, ListeningEndpoint>();

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
    const peer = kernelName(socket, 'peer');
    if (peer === undefined) return undefined;
    const server = side === 'server' ? serverOf(socket) : undefined;
    const listening = server === undefined ? undefined : this.listening.get(server);
    let local: ConnectionEndpoint;
    if (listening?.address !== undefined && (listeningPort === undefined || listening.port === listeningPort)) {
      local = { address: listening.address, port: listening.port };
    } else {
      const own = kernelName(socket, 'local');
      if (own === undefined) return undefined;
      local = { address: normalizeAddress(own.address), port: own.port };
    }
    return { local, peer: { address: normalizeAddress(peer.address), port: peer.port } };
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
/** A socket's handle, as far as its names go. */
interface NamedHandle {
  getpeername?(out: object): number;
  getsockname?(out: object): number;
}

/**
 * The peer (getpeername) or local (getsockname) end of a connected socket, read from its
 * handle into an object of socklife's own. `remoteAddress` and `localAddress` read the same,
 * but Node keeps the answer on the socket in a property its constructor does not make
 * (`_peername`, `_sockname`), so each socket read that way changes hidden class, and Node's
 * own code then meets sockets of two shapes. Without a handle (closed, or a stand-in), or
 * while connecting, it asks those getters, as Node does.
 */
function kernelName(socket: SocketView, end: 'peer' | 'local'): { readonly address: string; readonly port: number } | undefined {
  const s = socket as SocketView & { _handle?: NamedHandle | null; connecting?: boolean };
  const handle = s._handle;
  const read = end === 'peer' ? handle?.getpeername : handle?.getsockname;
  if (handle === undefined || handle === null || typeof read !== 'function' || s.connecting === true) {
    const address = end === 'peer' ? socket.remoteAddress : socket.localAddress;
    const port = end === 'peer' ? socket.remotePort : socket.localPort;
    return address === undefined || port === undefined ? undefined : { address, port };
  }
  const out: { address?: unknown; port?: unknown } = {};
  if (read.call(handle, out) !== 0 || typeof out.address !== 'string' || typeof out.port !== 'number') return undefined;
  return out as { readonly address: string; readonly port: number };
}

function ownPort(socket: SocketView): ListeningEndpoint | undefined {
  const port = isInetFamily(socket.remoteFamily) ? socket.localPort : undefined;
  return port === undefined ? undefined : { port, address: undefined };
}
