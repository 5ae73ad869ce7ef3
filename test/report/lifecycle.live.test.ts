import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { execa } from 'execa';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { instrument, type SocklifeHandle } from '../../src/index.js';
import { missingTool, skipWithReason } from '../support/requirements.js';
import { SsPolls } from '../support/ss-polls.js';
import { ssShows } from '../support/ss-shows.js';
import { createTelemetry, eventually, waitFor, type Telemetry } from '../support/telemetry.js';

let telemetry: Telemetry;
let handle: SocklifeHandle;
const cleanups: Array<() => unknown> = [];

beforeEach(() => {
  telemetry = createTelemetry();
  handle = instrument({
    tracerProvider: telemetry.tracerProvider,
    meterProvider: telemetry.meterProvider,
    pollIntervalMs: 50,
    closeWaitThresholdMs: 60_000,
    source: 'ss',
    // Every connection's spans: this file is about their content (test/report/span-policy.live.test.ts covers which are made).
    spans: 'all',
    // The host's TIME_WAIT count (other tests churn connections) must not add the TIME_WAIT query's rows.
    timeWaitThreshold: 10_000_000,
  });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  handle.stop();
  await telemetry.shutdown();
});

async function listen(server: net.Server, host = '127.0.0.1'): Promise<number> {
  server.listen(0, host);
  await once(server, 'listening');
  cleanups.push(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

/** The finished tcp.connection span of one side of a connection, found by the client's port. */
function connectionSpan(side: 'client' | 'server', clientPort: number): ReadableSpan | undefined {
  return telemetry
    .spans('tcp.connection')
    .find((s) =>
      side === 'client'
        ? s.kind === SpanKind.CLIENT && s.attributes['network.local.port'] === clientPort
        : s.kind === SpanKind.SERVER && s.attributes['client.port'] === clientPort,
    );
}

async function bothSpans(clientPort: number): Promise<{ client: ReadableSpan; server: ReadableSpan }> {
  const client = await waitFor(() => connectionSpan('client', clientPort), 3000, 'the client tcp.connection span');
  const server = await waitFor(() => connectionSpan('server', clientPort), 3000, 'the server tcp.connection span');
  return { client, server };
}

/** Resolves at 'close' whatever came before it ('error' included, unlike events.once). */
function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

function states(span: ReadableSpan): unknown[] {
  return span.events.filter((e) => e.name === 'tcp.state_change').map((e) => e.attributes?.['network.connection.state']);
}

function statesFrom(span: ReadableSpan, source: 'socket_event' | 'kernel'): unknown[] {
  return span.events
    .filter((e) => e.name === 'tcp.state_change' && e.attributes?.['tcp.state.source'] === source)
    .map((e) => e.attributes?.['network.connection.state']);
}

/**
 * An active closer's FIN_WAIT states come only from the kernel, when a poll catches them while
 * the peer answers: FIN_WAIT_1, FIN_WAIT_2, both in that order, or none.
 */
function expectOnlyFinWaitFromKernel(span: ReadableSpan): void {
  const kernel = statesFrom(span, 'kernel');
  expect(['fin_wait_1', 'fin_wait_2'].filter((s) => kernel.includes(s))).toEqual(kernel);
  const all = states(span);
  for (const s of kernel) {
    expect(all.indexOf(s)).toBeGreaterThan(all.indexOf('established'));
    expect(all.indexOf(s)).toBeLessThan(all.indexOf('closed'));
  }
}

function children(parent: ReadableSpan, name: string): ReadableSpan[] {
  return telemetry
    .spans(name)
    .filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId && s.spanContext().traceId === parent.spanContext().traceId);
}

const skip = skipWithReason(missingTool('ss'));

describe.skipIf(skip)('connection lifecycle spans on live sockets', () => {
  it('normal close, client first: handshake, then a half-close with the server still sending', async () => {
    const reply = Buffer.alloc(5000, 'r');
    const port = await listen(
      net.createServer({ allowHalfOpen: true }, (socket) => {
        socket.resume();
        // The server works a little, then keeps sending after the client's FIN: a real half-close.
        socket.on('end', () => setTimeout(() => socket.end(reply), 20));
      }),
    );
    const client = net.connect(port, '127.0.0.1');
    await once(client, 'connect');
    const clientPort = client.localPort as number;
    client.write('request');
    client.end();
    client.resume();
    await once(client, 'close');

    const { client: c, server: s } = await bothSpans(clientPort);
    // The closer's FIN_WAIT (while open) and TIME_WAIT (tcp.after_close) are the kernel's to report, not the events'.
    expect(statesFrom(c, 'socket_event')).toEqual(['syn_sent', 'established', 'closed']);
    expectOnlyFinWaitFromKernel(c);
    expect(states(s)).toEqual(['established', 'close_wait', 'last_ack', 'closed']);
    expect(c.attributes).toMatchObject({
      'network.transport': 'tcp',
      'network.type': 'ipv4',
      'server.address': '127.0.0.1',
      'server.port': port,
      'network.peer.port': port,
      'network.local.port': clientPort,
      'tcp.bytes.sent': 7,
      'tcp.bytes.received': reply.length,
      'tcp.close.reason': 'fin',
      'tcp.close.initiator': 'local',
    });
    expect(s.attributes).toMatchObject({ 'client.port': clientPort, 'tcp.close.initiator': 'peer', 'tcp.close.reason': 'fin' });

    const [handshake] = children(c, 'tcp.handshake');
    expect(handshake?.status.code).not.toBe(SpanStatusCode.ERROR);
    expect(handshake?.attributes['tcp.handshake.source']).toBe('socket_event');
    expect(children(s, 'tcp.handshake')).toEqual([]); // the server's handshake happened in the kernel, unseen

    const [clientHalf] = children(c, 'tcp.half_close');
    const [serverHalf] = children(s, 'tcp.half_close');
    expect(clientHalf?.attributes).toMatchObject({
      'tcp.close.initiator': 'local',
      'tcp.half_close.bytes.received': reply.length,
      'tcp.half_close.bytes.sent': 0,
    });
    expect(serverHalf?.attributes).toMatchObject({
      'tcp.close.initiator': 'peer',
      'tcp.half_close.bytes.sent': reply.length,
      'tcp.half_close.bytes.received': 0,
    });
  });

  it('normal close, server first: the server is the closer and the client passes through close_wait', async () => {
    const port = await listen(net.createServer((socket) => socket.end('bye')));
    const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    await once(client, 'connect');
    const clientPort = client.localPort as number;
    client.resume();
    // The client answers the server's FIN a little later, as a real peer across a network would.
    client.on('end', () => setTimeout(() => client.end(), 20));
    await once(client, 'close');
    const { client: c, server: s } = await bothSpans(clientPort);
    expect(statesFrom(s, 'socket_event')).toEqual(['established', 'closed']);
    expectOnlyFinWaitFromKernel(s);
    expect(states(c)).toEqual(['syn_sent', 'established', 'close_wait', 'last_ack', 'closed']);
    expect(s.attributes['tcp.close.initiator']).toBe('local');
    expect(c.attributes['tcp.close.initiator']).toBe('peer');
  });

  it('RST from the client: reset on both sides, ECONNRESET on the server', async () => {
    const server = net.createServer((socket) => socket.on('error', () => {}).resume());
    const port = await listen(server);
    const accepted = once(server, 'connection');
    const client = net.connect(port, '127.0.0.1');
    await once(client, 'connect');
    const clientPort = client.localPort as number;
    // The server has its socket (and so its span) before the RST.
    await accepted;
    client.resetAndDestroy();
    const { client: c, server: s } = await bothSpans(clientPort);
    expect(c.attributes['tcp.close.reason']).toBe('reset');
    expect(states(c).at(-1)).toBe('closed');
    expect(s.attributes['tcp.close.reason']).toBe('reset');
    expect(s.attributes['error.type']).toBe('ECONNRESET');
    expect(s.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('RST from the server: the client sees ECONNRESET', async () => {
    const port = await listen(net.createServer((socket) => setTimeout(() => socket.resetAndDestroy(), 20)));
    const client = net.connect(port, '127.0.0.1');
    client.on('error', () => {});
    await once(client, 'connect');
    const clientPort = client.localPort as number;
    const { client: c, server: s } = await bothSpans(clientPort);
    expect(s.attributes['tcp.close.reason']).toBe('reset');
    expect(c.attributes).toMatchObject({ 'tcp.close.reason': 'reset', 'error.type': 'ECONNRESET' });
    expect(c.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('refused connect: the handshake and the connection fail with ECONNREFUSED', async () => {
    const gone = net.createServer();
    const port = await listen(gone);
    await new Promise<void>((r) => gone.close(() => r()));
    const client = net.connect(port, '127.0.0.1');
    client.on('error', () => {});
    await closed(client);
    const c = await waitFor(
      () => telemetry.spans('tcp.connection').find((s) => s.attributes['error.type'] === 'ECONNREFUSED'),
      3000,
      'the refused connection span',
    );
    expect(c.kind).toBe(SpanKind.CLIENT);
    expect(c.status.code).toBe(SpanStatusCode.ERROR);
    expect(states(c)).toEqual(['syn_sent', 'closed']);
    // The endpoints of a handshake that never finished: getsockname() and the connect() target.
    expect(c.attributes).toMatchObject({ 'server.address': '127.0.0.1', 'server.port': port, 'network.peer.port': port });
    expect(c.attributes['network.local.port']).toBeGreaterThan(0);
    const [handshake] = children(c, 'tcp.handshake');
    expect(handshake?.attributes['error.type']).toBe('ECONNREFUSED');
    expect(handshake?.status.code).toBe(SpanStatusCode.ERROR);
    const durations = await telemetry.metric('tcp.handshake.duration');
    expect(durations?.dataPoints.some((p) => p.attributes['error.type'] === 'ECONNREFUSED')).toBe(true);
  });

  it('connect timeout: SYNs dropped by a full accept queue, the application gives up', async () => {
    // A listener that never accepts, with a backlog of one that is already taken: the kernel drops further SYNs.
    const listener = execa(
      'python3',
      [
        '-c',
        ['import socket,sys,time', 's=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(0)', 'print(s.getsockname()[1], flush=True)', 'time.sleep(30)'].join(
          '\n',
        ),
      ],
      { reject: false },
    );
    cleanups.push(() => listener.kill());
    const [portLine] = (await once(listener.stdout!, 'data')) as [Buffer];
    const port = Number(portLine.toString().trim());
    const filler = net.connect(port, '127.0.0.1');
    cleanups.push(() => filler.destroy());
    await once(filler, 'connect');

    const client = net.connect({ port, host: '127.0.0.1', timeout: 300 });
    client.on('timeout', () => client.destroy());
    await closed(client);
    const c = await waitFor(
      () => telemetry.spans('tcp.connection').find((s) => s.attributes['tcp.close.reason'] === 'timeout'),
      3000,
      'the timed-out connection span',
    );
    expect(states(c)).toEqual(['syn_sent', 'closed']);
    expect(c.attributes).toMatchObject({ 'server.port': port, 'network.peer.address': '127.0.0.1' });
    const [handshake] = children(c, 'tcp.handshake');
    expect(handshake?.attributes['error.type']).toBe('timeout');
    expect(handshake?.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('a host name: the DNS lookup is an event of the handshake and server.address keeps the name', async () => {
    const port = await listen(
      net.createServer((socket) => socket.end()),
      '127.0.0.1',
    );
    const client = net.connect({ port, host: 'localhost', family: 4 });
    await once(client, 'connect');
    const clientPort = client.localPort as number;
    client.end();
    client.resume();
    const { client: c } = await bothSpans(clientPort);
    expect(c.attributes['server.address']).toBe('localhost');
    expect(c.attributes['network.peer.address']).toBe('127.0.0.1');
    const [handshake] = children(c, 'tcp.handshake');
    const lookup = handshake?.events.find((e) => e.name === 'dns.lookup');
    expect(lookup?.attributes).toMatchObject({ 'server.address': 'localhost', 'network.peer.address': '127.0.0.1' });
  });

  it('half-close with data flowing: bytes each way during the half-close, tcp_info from the kernel at close', async () => {
    let accepted: net.Socket | undefined;
    const port = await listen(
      net.createServer({ allowHalfOpen: true }, (socket) => {
        accepted = socket;
        socket.resume();
      }),
    );
    const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    await once(client, 'connect');
    const clientPort = client.localPort as number;
    client.resume();
    const polls = new SsPolls();
    cleanups.push(() => polls.dispose());
    client.end('first');
    // The server sits in CLOSE_WAIT until a poll has seen it, then streams and closes.
    const server = await waitFor(() => accepted, 2000, 'the accepted socket');
    if (!server.readableEnded) await once(server, 'end');
    await polls.next(1);
    accepted?.write(Buffer.alloc(40_000, 'd'));
    accepted?.end(Buffer.alloc(10_000, 'e'));
    const { server: s } = await bothSpans(clientPort);
    const [half] = children(s, 'tcp.half_close');
    expect(half?.attributes).toMatchObject({ 'tcp.half_close.bytes.sent': 50_000, 'tcp.half_close.bytes.received': 0 });
    expect(states(s)).toEqual(['established', 'close_wait', 'last_ack', 'closed']);
    expect(typeof s.attributes['tcp.info.rtt_ms']).toBe('number');
    expect(typeof s.attributes['tcp.info.cwnd']).toBe('number');
    expect(s.attributes['tcp.info.age_ms']).toBeGreaterThanOrEqual(0);
  });
});

describe.skipIf(skip)('after close: what the kernel does once Node has let go', () => {
  it('follows a destroyed socket through its orphaned FIN_WAIT_2 until the kernel drops it', async () => {
    let accept: (socket: net.Socket) => void = () => {};
    const acceptedSocket = new Promise<net.Socket>((resolve) => (accept = resolve));
    const port = await listen(
      net.createServer({ allowHalfOpen: true }, (socket) => {
        socket.resume();
        accept(socket);
      }),
    );
    const client = net.connect(port, '127.0.0.1');
    await once(client, 'connect');
    const accepted = await acceptedSocket;
    const clientPort = client.localPort as number;
    const polls = new SsPolls();
    cleanups.push(() => polls.dispose());
    // destroy() without end(): Node is done, the kernel still sends a FIN and waits for the peer's.
    client.destroy();
    const c = await waitFor(() => connectionSpan('client', clientPort), 3000, 'the client connection span');
    expect(c.attributes['tcp.close.reason']).toBe('destroyed');
    // The FIN's ACK is in, by the kernel's own record.
    await eventually(async () => ((await ssShows('fin-wait-2', clientPort, port)) === 1 ? true : undefined), 3000, `port ${clientPort} in FIN-WAIT-2 in ss`);
    await polls.next(2); // polls that started after it see the orphan in FIN_WAIT_2
    accepted.resetAndDestroy(); // the peer's RST ends the orphan
    // The first poll that no longer finds the orphan ends the follow-up: a few polls, however long they take.
    const after = await polls.within(4, () => children(c, 'tcp.after_close')[0], 'the tcp.after_close span');
    const seen = after.events.filter((e) => e.name === 'tcp.state_change').map((e) => e.attributes?.['network.connection.state']);
    // A poll that ran before the ACK of the FIN came back (loopback delivers it in a softirq,
    // late on a loaded machine) saw FIN_WAIT_1: the kernel said so, and the span keeps it.
    expect(seen).toEqual(seen[0] === 'fin_wait_1' ? ['fin_wait_1', 'fin_wait_2', 'closed'] : ['fin_wait_2', 'closed']);
    for (const e of after.events) expect(e.attributes?.['tcp.state.source']).toBe('kernel');
    expect(after.attributes).toMatchObject({ 'network.connection.state': 'fin_wait_2', 'network.local.port': clientPort });
  });
});

describe.skipIf(skip)('coverage of connection kinds', () => {
  it('http with and without keep-alive, fetch, IPv6 and dual-stack servers', async () => {
    const server = http.createServer((req, res) => {
      req.resume();
      res.setHeader('connection', 'close');
      res.end('ok');
    });
    const port = await listen(server, '::');
    // Dual-stack: an IPv4 client of a '::' server is seen as ::ffff:127.0.0.1 and reported as 127.0.0.1.
    const get = (host: string, agent?: http.Agent) =>
      new Promise<void>((resolve, reject) => http.get({ host, port, agent }, (res) => res.resume().on('end', resolve)).on('error', reject));
    await get('127.0.0.1');
    await get('::1');
    const keepAlive = new http.Agent({ keepAlive: true });
    cleanups.push(() => keepAlive.destroy());
    await get('127.0.0.1', keepAlive);
    const response = await fetch(`http://127.0.0.1:${port}/`);
    expect(await response.text()).toBe('ok');
    await waitFor(
      () => (telemetry.spans('tcp.connection').filter((s) => s.kind === SpanKind.SERVER).length >= 4 ? true : undefined),
      3000,
      'four server spans',
    );
    const servers = telemetry.spans('tcp.connection').filter((s) => s.kind === SpanKind.SERVER);
    const peers = servers.map((s) => `${s.attributes['network.type']} ${s.attributes['client.address']}`).sort();
    expect(peers).toEqual(['ipv4 127.0.0.1', 'ipv4 127.0.0.1', 'ipv4 127.0.0.1', 'ipv6 ::1']);
    const clients = await waitFor(
      () => {
        const found = telemetry.spans('tcp.connection').filter((s) => s.kind === SpanKind.CLIENT);
        return found.length >= 4 ? found : undefined;
      },
      3000,
      'four client spans (http, http over IPv6, keep-alive agent, fetch)',
    );
    expect(clients.every((s) => s.attributes['server.port'] === port)).toBe(true);
  });

  it.skipIf(skipWithReason(missingTool('openssl', ['version'])))('tls: the TCP connection under TLS, on both sides', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'socklife-tls-'));
    await execa('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-days',
      '1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    const cert = readFileSync(join(dir, 'cert.pem'));
    const server = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert }, (req, res) => {
      req.resume();
      res.end('secure');
    });
    const port = await listen(server);
    const text = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ port, host: '127.0.0.1', ca: cert, servername: 'localhost' }, () => {
        socket.end('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
      });
      let body = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (body += d));
      socket.on('error', reject);
      socket.on('close', () => resolve(body));
    });
    expect(text).toMatch(/secure$/);
    const spans = await waitFor(
      () => {
        const found = telemetry
          .spans('tcp.connection')
          .filter((s) => s.attributes['network.peer.port'] === port || s.attributes['network.local.port'] === port);
        return found.length >= 2 ? found : undefined;
      },
      3000,
      'client and server spans of the TLS connection',
    );
    const kinds = spans.map((s) => s.kind).sort();
    expect(kinds).toEqual([SpanKind.SERVER, SpanKind.CLIENT].sort());
    // The server's raw socket counts TCP payload (handshake included); a TLSSocket client counts plaintext.
    const serverSpan = spans.find((s) => s.kind === SpanKind.SERVER);
    const clientSpan = spans.find((s) => s.kind === SpanKind.CLIENT);
    expect(Number(serverSpan?.attributes['tcp.bytes.sent'])).toBeGreaterThan(cert.length / 2);
    expect(clientSpan?.attributes['tcp.bytes.received']).toBe(Buffer.byteLength(text));
    // The client TLSSocket sees both FINs; the server's raw socket is closed under the TLS layer.
    expect(clientSpan?.attributes['tcp.close.reason']).toBe('fin');
    expect(serverSpan?.attributes['tcp.close.reason']).toBe('destroyed');
  });

  it('leaves Unix-domain sockets alone, quietly', async () => {
    const path = `/tmp/socklife-test-${process.pid}-${Date.now()}.sock`;
    let serverSideClosed: Promise<unknown> | undefined;
    const server = net.createServer((socket) => {
      serverSideClosed = once(socket, 'close');
      socket.end('x');
    });
    server.listen(path);
    await once(server, 'listening');
    cleanups.push(() => server.close());
    const client = net.connect(path);
    client.resume();
    await once(client, 'close');
    // Both ends closed: a connection span would have been made then.
    await waitFor(() => serverSideClosed, 2000, 'the accepted socket');
    await serverSideClosed;
    expect(telemetry.spans('tcp.connection')).toEqual([]);
  });
});
