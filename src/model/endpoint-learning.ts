import { EndpointReader, type ListeningEndpoint } from '../observe/endpoints.js';
import type { KernelSocketRow } from '../observe/kernel/rows.js';
import type { ServerView, SocketView } from '../observe/socket-view.js';
import { TcpState } from '../tcp-states.js';
import type { Connection, IndexedConnection } from './connection.js';
import type { LiveConnections } from './live-index.js';

/**
 * When the model learns a connection's endpoints: reading them costs two system calls a
 * connection, so only when something needs them (a recorded connection, a kernel row to match,
 * a detector's question), and once.
 */
export class EndpointLearning {
  private readonly reader = new EndpointReader();

  constructor(private readonly index: LiveConnections) {}

  /** A server started listening (again): the sockets it accepts from now on are on its new endpoint. */
  serverListening(server: ServerView): void {
    this.reader.serverListening(server);
  }

  /** The listening endpoint of the server that accepted `socket`; undefined for a pipe server. */
  listeningEndpoint(socket: SocketView): ListeningEndpoint | undefined {
    return this.reader.listeningEndpoint(socket);
  }

  /** Learns a live connection's endpoints if they are not known yet. */
  learn(c: Connection): void {
    const socket = c.socket;
    if (c.local !== undefined || socket === undefined) return;
    const known = this.reader.connected(socket, c.side, c.side === 'server' ? c.filterPort : undefined);
    if (known === undefined) return;
    c.local = known.local;
    c.peer = known.peer;
    this.index.endpointsKnown(c as IndexedConnection);
  }

  /** A client whose handshake fails never had `'connect'`; its handle still knows its local port. */
  learnUnconnected(c: Connection, socket: SocketView): void {
    if (c.side !== 'client' || c.connectedAt !== undefined || c.local !== undefined) return;
    const known = this.reader.unconnected(socket, c.lookup?.address ?? c.target?.host ?? 'localhost', c.target?.port);
    if (known === undefined) return;
    c.local = known.local;
    c.peer = known.peer;
  }

  /**
   * Learns the endpoints of the live connections a poll's rows may belong to (same listening
   * or target port), so that matching costs system calls only when the kernel shows something.
   */
  learnCandidates(rows: readonly KernelSocketRow[]): void {
    const localPorts = new Set<number>();
    const peerPorts = new Set<number>();
    for (const row of rows) {
      // A listening socket or a handshake not yet accepted is no connection of this process.
      if (row.state === TcpState.Listen || row.state === TcpState.SynReceived) continue;
      localPorts.add(row.local.port);
      peerPorts.add(row.peer.port);
    }
    for (const c of this.index.all) {
      if (c.local !== undefined || c.filterPort === undefined) continue;
      if (c.side === 'server' ? localPorts.has(c.filterPort) : peerPorts.has(c.filterPort)) this.learn(c);
    }
  }
}
