import { now } from '../clock.js';
import { normalizeAddress } from '../observe/kernel/address.js';

/** A server socket this process listens on, as `listen()` made it. */
export interface ListeningSocket {
  /** The address it is bound to, normalised; `0.0.0.0` or `::` for every address. */
  readonly address: string;
  readonly port: number;
  /** The backlog `listen()` was given, when it was given one (Node's default is 511); the kernel caps it at `net.core.somaxconn`. */
  readonly requestedBacklog: number | undefined;
  /** Epoch ms when it was seen listening. */
  readonly since: number;
}

/** The part of a `net.Server` the model reads. */
export interface ListeningServer {
  readonly listening: boolean;
  address(): { port?: unknown; address?: unknown } | string | null;
}

/**
 * The listening sockets of this process, learned from `listen()` (the diagnostics channel,
 * or a server given to `instrumentServer()`). A server that stopped listening is dropped the
 * next time the list is read. Pipe servers are not TCP and are left out.
 */
export class ListeningSockets {
  private readonly byServer = new Map<ListeningServer, ListeningSocket>();

  /** Records a server that listens now; `requestedBacklog` as given to `listen()`. */
  add(server: ListeningServer, requestedBacklog: number | undefined): void {
    if (!server.listening) return;
    const address = server.address();
    if (address === null || typeof address !== 'object' || typeof address.port !== 'number') return;
    const host = typeof address.address === 'string' ? normalizeAddress(address.address) : '::';
    this.byServer.set(server, { address: host, port: address.port, requestedBacklog, since: now() });
  }

  /** The sockets still listening. */
  all(): ListeningSocket[] {
    const sockets: ListeningSocket[] = [];
    for (const [server, socket] of this.byServer) {
      if (server.listening) sockets.push(socket);
      else this.byServer.delete(server);
    }
    return sockets;
  }

  /** The distinct ports listened on. */
  ports(): number[] {
    return [...new Set(this.all().map((s) => s.port))];
  }

  clear(): void {
    this.byServer.clear();
  }
}
