import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type * as net from 'node:net';

/**
 * One TCP connection as its server's spans name it: the client's port and the server's.
 * The client port alone does not name it: the kernel hands one ephemeral port to connections
 * towards different servers at the same time, so a test with two servers can see it twice.
 */
export interface ServerSide {
  readonly clientPort: number;
  readonly serverPort: number;
}

/** The server side of `client`'s connection; read while it is connected. */
export function serverSideOf(client: net.Socket): ServerSide {
  const { localPort, remotePort } = client;
  if (localPort === undefined || remotePort === undefined) throw new Error('serverSideOf: the client is not connected');
  return { clientPort: localPort, serverPort: remotePort };
}

/** Whether `span` is a server-side span of that connection. */
export function onServerSide(side: ServerSide): (span: ReadableSpan) => boolean {
  return (span) => span.attributes['client.port'] === side.clientPort && span.attributes['network.local.port'] === side.serverPort;
}
