import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';
import type { HistogramMetricData } from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import type { Connection } from '../../src/model/connection.js';
import { ConnectionTracker } from '../../src/model/tracker.js';
import { OtelReporter } from '../../src/report/otel-reporter.js';
import { CONNECTION_DURATION_BUCKETS, HANDSHAKE_DURATION_BUCKETS } from '../../src/report/connection-metrics.js';
import { Providers } from '../../src/report/providers.js';
import { recordingPolicyFor } from '../../src/report/recording-policy.js';
import type { SpanPolicy } from '../../src/report/span-policy.js';
import { TcpState } from '../../src/tcp-states.js';
import { Clock, FakeSocket } from '../model/fixture.js';
import { createTelemetry, type Telemetry } from '../support/telemetry.js';
import { FakeTracerProvider, type FakeSpan } from './fake-tracer.js';

/**
 * The reporter without the world: the model fed by hand (fake sockets, a test clock), spans
 * made on a fake tracer that records every call, metrics on the real metrics SDK.
 */

const SLOW_HANDSHAKE_MS = 1000;
const SERVER_PORT = 8080;
const CLIENT_PORT = 40_000;

const telemetries: Telemetry[] = [];
afterEach(async () => {
  for (const t of telemetries.splice(0)) await t.shutdown();
});

function setup(spans: SpanPolicy, options: { redactPeerAddresses?: boolean; redactUrlPaths?: boolean } = {}) {
  const provider = new FakeTracerProvider();
  const telemetry = createTelemetry();
  telemetries.push(telemetry);
  const providers = new Providers(provider, telemetry.meterProvider);
  const clock = new Clock();
  const counts = { of: (): ReadonlyMap<TcpState, number> => new Map() };
  const reporter = new OtelReporter({
    providers,
    spans,
    slowHandshakeMs: SLOW_HANDSHAKE_MS,
    redactPeerAddresses: options.redactPeerAddresses ?? false,
    redactUrlPaths: options.redactUrlPaths ?? false,
    stateCounts: () => counts.of(),
  });
  const policy = recordingPolicyFor({ spans, requireParentSpan: false, slowHandshakeMs: SLOW_HANDSHAKE_MS, tracerProvider: () => providers.tracerProvider });
  const tracker = new ConnectionTracker(reporter, clock.now, policy);
  counts.of = () => tracker.stateCounts();
  return { tracer: provider.tracer, telemetry, reporter, tracker, clock };
}
type Setup = ReturnType<typeof setup>;

function only(spans: FakeSpan[]): FakeSpan {
  expect(spans).toHaveLength(1);
  return spans[0] as FakeSpan;
}

function recordOf(s: Setup, socket: FakeSocket): Connection {
  const c = [...s.tracker.liveConnections()].find((x) => x.socket === socket);
  if (c === undefined) throw new Error('no record for the socket');
  return c;
}

function stateEvents(span: FakeSpan): string[] {
  return span.events
    .filter((e) => e.name === 'tcp.state_change')
    .map((e) => `${String(e.attributes?.['network.connection.state'])}/${String(e.attributes?.['tcp.state.source'])}`);
}

/** An accepted connection whose peer closes first; we answer after sending 5 bytes in the half-close. */
function serverPassiveClose(s: Setup): { socket: FakeSocket; times: Record<string, number> } {
  const socket = new FakeSocket(SERVER_PORT, CLIENT_PORT);
  const opened = s.clock.time;
  s.tracker.socketOpened(socket, 'server', undefined);
  socket.bytesRead = 100;
  const peerFin = s.clock.advance(10);
  s.tracker.socketEvent(socket, { type: 'end' });
  socket.bytesWritten = 5;
  s.clock.advance(5);
  s.tracker.socketEvent(socket, { type: 'end_called' });
  const ourFin = s.clock.advance(1);
  s.tracker.socketEvent(socket, { type: 'finish' });
  const close = s.clock.advance(1);
  s.tracker.socketEvent(socket, { type: 'close' });
  return { socket, times: { opened, peerFin, ourFin, close } };
}

/** An accepted connection we close first (the kernel may keep it in TIME_WAIT). */
function serverActiveClose(s: Setup): FakeSocket {
  const socket = new FakeSocket(SERVER_PORT, CLIENT_PORT);
  s.tracker.socketOpened(socket, 'server', undefined);
  s.clock.advance(10);
  s.tracker.socketEvent(socket, { type: 'end_called' });
  s.tracker.socketEvent(socket, { type: 'finish' });
  s.clock.advance(1);
  s.tracker.socketEvent(socket, { type: 'end' });
  s.clock.advance(1);
  s.tracker.socketEvent(socket, { type: 'close' });
  return socket;
}

/** A client that looks up `example.test`, connects after `handshakeMs`, and is reset by its peer. */
function clientReset(s: Setup, handshakeMs = 3): { socket: FakeSocket; times: Record<string, number> } {
  const socket = new FakeSocket(CLIENT_PORT, SERVER_PORT);
  const opened = s.clock.time;
  s.tracker.socketOpened(socket, 'client', undefined);
  s.tracker.socketEvent(socket, { type: 'connect_called', host: 'example.test', port: SERVER_PORT });
  const lookup = s.clock.advance(1);
  s.tracker.socketEvent(socket, { type: 'lookup', host: 'example.test', address: '127.0.0.1' });
  const connect = s.clock.advance(handshakeMs - 1);
  s.tracker.socketEvent(socket, { type: 'connect' });
  const close = s.clock.advance(20);
  s.tracker.socketEvent(socket, { type: 'close', error: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) });
  return { socket, times: { opened, lookup, connect, close } };
}

/** A client whose connect() is refused. */
function clientRefused(s: Setup): FakeSocket {
  const socket = new FakeSocket(CLIENT_PORT, SERVER_PORT);
  s.tracker.socketOpened(socket, 'client', undefined);
  s.tracker.socketEvent(socket, { type: 'connect_called', host: '127.0.0.1', port: SERVER_PORT });
  s.clock.advance(2);
  s.tracker.socketEvent(socket, { type: 'destroy_called', reset: false });
  s.tracker.socketEvent(socket, { type: 'close', error: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8080'), { code: 'ECONNREFUSED' }) });
  return socket;
}

async function histogram(t: Telemetry, name: string): Promise<Array<{ attributes: Attributes; count: number }>> {
  const metric = (await t.metric(name)) as HistogramMetricData | undefined;
  return (metric?.dataPoints ?? []).map((p) => ({ attributes: p.attributes, count: p.value.count }));
}

/** Everything a test compares of a span, ids left out. */
function shape(span: FakeSpan) {
  return {
    name: span.name,
    kind: span.options.kind,
    start: span.startTime,
    end: span.endTime,
    parent: span.parent === undefined ? undefined : (span.parent as FakeSpan).name,
    attributes: span.attributes,
    events: span.events,
    status: span.status,
  };
}

describe('under `all`', () => {
  it('a server connection: one SERVER tcp.connection from accept to close, its states as events, its endpoints, and a tcp.half_close between the FINs', () => {
    const s = setup('all');
    const { times } = serverPassiveClose(s);
    const connection = only(s.tracer.named('tcp.connection'));
    expect(connection.options.kind).toBe(SpanKind.SERVER);
    expect(connection.parent).toBeUndefined();
    expect(connection.startTime).toBe(times.opened);
    expect(connection.endTime).toBe(times.close);
    expect(stateEvents(connection)).toEqual(['established/socket_event', 'close_wait/socket_event', 'last_ack/socket_event', 'closed/socket_event']);
    expect(connection.attributes).toMatchObject({
      'network.transport': 'tcp',
      'tcp.connection.side': 'server',
      'network.local.port': SERVER_PORT,
      'network.peer.address': '127.0.0.1',
      'client.port': CLIENT_PORT,
      'tcp.close.reason': 'fin',
      'tcp.close.initiator': 'peer',
    });
    const halfClose = only(s.tracer.named('tcp.half_close'));
    expect(halfClose.parent).toBe(connection);
    expect(halfClose.startTime).toBe(times.peerFin);
    expect(halfClose.endTime).toBe(times.ourFin);
    expect(halfClose.attributes).toMatchObject({ 'tcp.close.initiator': 'peer', 'tcp.half_close.bytes.sent': 5, 'tcp.half_close.bytes.received': 0 });
    expect(s.tracer.spans.every((span) => span.ended)).toBe(true);
    expect(s.reporter.held).toBe(0);
  });

  it('a client connection: its tcp.handshake, a child, carries the DNS lookup and ends at connect; server.address is the name asked for', () => {
    const s = setup('all');
    const { times } = clientReset(s);
    const connection = only(s.tracer.named('tcp.connection'));
    const handshake = only(s.tracer.named('tcp.handshake'));
    expect(connection.options.kind).toBe(SpanKind.CLIENT);
    expect(handshake.parent).toBe(connection);
    expect(handshake.startTime).toBe(times.opened);
    expect(handshake.endTime).toBe(times.connect);
    expect(handshake.events).toEqual([
      { name: 'dns.lookup', attributes: { 'server.address': 'example.test', 'network.peer.address': '127.0.0.1' }, time: times.lookup },
    ]);
    expect(handshake.attributes).toMatchObject({ 'server.address': 'example.test', 'server.port': SERVER_PORT });
    expect(connection.attributes).toMatchObject({ 'server.address': 'example.test', 'tcp.close.reason': 'reset', 'error.type': 'ECONNRESET' });
    expect(connection.status).toEqual({ code: SpanStatusCode.ERROR, message: 'read ECONNRESET' });
  });

  it('a refused connect: both spans say the error, and the handshake metric counts it with its error.type', async () => {
    const s = setup('all');
    clientRefused(s);
    const handshake = only(s.tracer.named('tcp.handshake'));
    expect(handshake.status).toEqual({ code: SpanStatusCode.ERROR, message: 'connect ECONNREFUSED 127.0.0.1:8080' });
    expect(handshake.attributes).toMatchObject({ 'error.type': 'ECONNREFUSED', 'server.port': SERVER_PORT });
    expect(only(s.tracer.named('tcp.connection')).attributes).toMatchObject({ 'error.type': 'ECONNREFUSED', 'tcp.close.reason': 'error' });
    expect(await histogram(s.telemetry, 'tcp.handshake.duration')).toEqual([
      { attributes: { 'network.transport': 'tcp', 'error.type': 'ECONNREFUSED' }, count: 1 },
    ]);
  });

  it('after close: what the kernel did with an active closer is a tcp.after_close in its trace; then the reporter lets the connection go', () => {
    const s = setup('all');
    const socket = serverActiveClose(s);
    expect(s.reporter.held).toBe(1);
    s.tracker.kernelNeed();
    const seen = s.clock.advance(50);
    const row = {
      state: TcpState.TimeWait,
      recvQ: 0,
      sendQ: 0,
      local: { address: '127.0.0.1', port: socket.localPort as number },
      peer: { address: '127.0.0.1', port: CLIENT_PORT },
      inode: 0,
    };
    s.tracker.kernelRows([row], 'ss', seen);
    s.tracker.kernelNeed();
    const gone = s.clock.advance(60_000);
    s.tracker.kernelRows([], 'ss', gone);
    const afterClose = only(s.tracer.named('tcp.after_close'));
    expect(afterClose.parent).toBe(only(s.tracer.named('tcp.connection')));
    expect(afterClose.attributes).toMatchObject({ 'network.connection.state': 'time_wait', 'tcp.state.source': 'kernel', 'client.port': CLIENT_PORT });
    expect(stateEvents(afterClose)).toEqual(['time_wait/kernel', 'closed/kernel']);
    expect(afterClose.endTime).toBe(gone);
    expect(s.reporter.held).toBe(0);
  });

  it('a tracer whose spans record nothing: nothing is kept', () => {
    const s = setup('all');
    s.tracer.recording = false;
    serverActiveClose(s);
    clientReset(s);
    expect(s.tracer.spans.map((span) => span.name)).toEqual(['tcp.connection', 'tcp.connection']);
    expect(s.reporter.held).toBe(0);
  });
});

describe('under `anomalies`', () => {
  it('a healthy connection makes no span, and what waited for it is let go at close', () => {
    const s = setup('anomalies');
    const socket = new FakeSocket(SERVER_PORT, CLIENT_PORT);
    s.tracker.socketOpened(socket, 'server', undefined);
    expect(s.reporter.held).toBe(1);
    s.tracker.socketEvent(socket, { type: 'end_called' });
    s.tracker.socketEvent(socket, { type: 'finish' });
    s.tracker.socketEvent(socket, { type: 'end' });
    s.tracker.socketEvent(socket, { type: 'close' });
    expect(s.tracer.spans).toEqual([]);
    expect(s.reporter.held).toBe(0);
    // Not notable: the model does not follow it after close either.
    expect(s.tracker.followedAfterClose).toBe(0);
  });

  it('a notable connection (reset) gets, at close, the spans `all` makes, with their real times', () => {
    const all = setup('all');
    clientReset(all);
    const anomalies = setup('anomalies');
    clientReset(anomalies);
    expect(anomalies.tracer.spans.map(shape)).toEqual(all.tracer.spans.map(shape));
    expect(anomalies.tracer.spans.map((span) => span.name)).toEqual(['tcp.connection', 'tcp.handshake']);
    expect(anomalies.reporter.held).toBe(0);
  });

  it('a slow handshake is notable; replaying it counts no metric twice', async () => {
    const s = setup('anomalies');
    const { times } = clientReset(s, SLOW_HANDSHAKE_MS + 1);
    const handshake = only(s.tracer.named('tcp.handshake'));
    expect(handshake.endTime).toBe(times.connect);
    expect(await histogram(s.telemetry, 'tcp.handshake.duration')).toEqual([{ attributes: { 'network.transport': 'tcp' }, count: 1 }]);
    expect(await histogram(s.telemetry, 'tcp.connection.duration')).toEqual([
      { attributes: { 'network.transport': 'tcp', 'tcp.connection.side': 'client', 'tcp.close.reason': 'reset' }, count: 1 },
    ]);
  });

  it('a finding makes a deferred connection’s spans at once; what follows is written to them as it happens', () => {
    const s = setup('anomalies');
    const socket = new FakeSocket(SERVER_PORT, CLIENT_PORT);
    s.tracker.socketOpened(socket, 'server', undefined);
    s.clock.advance(10);
    s.tracker.socketEvent(socket, { type: 'end' });
    expect(s.tracer.spans).toEqual([]);
    const context = s.reporter.connectionContext(recordOf(s, socket));
    const connection = only(s.tracer.named('tcp.connection'));
    expect(context === undefined ? undefined : trace.getSpan(context)).toBe(connection);
    expect(stateEvents(connection)).toEqual(['established/socket_event', 'close_wait/socket_event']);
    expect(only(s.tracer.named('tcp.half_close')).ended).toBe(false);
    s.clock.advance(5000);
    s.tracker.socketEvent(socket, { type: 'finish' });
    s.tracker.socketEvent(socket, { type: 'close' });
    expect(stateEvents(connection)).toEqual(['established/socket_event', 'close_wait/socket_event', 'last_ack/socket_event', 'closed/socket_event']);
    expect(s.tracer.spans.every((span) => span.ended)).toBe(true);
  });
});

describe('under `findings`', () => {
  it('no connection span, nothing kept, no context for a finding; the metrics still count every connection', async () => {
    const s = setup('findings');
    const socket = new FakeSocket(SERVER_PORT, CLIENT_PORT);
    s.tracker.socketOpened(socket, 'server', undefined);
    expect(s.reporter.connectionContext(recordOf(s, socket))).toBeUndefined();
    s.tracker.socketEvent(socket, { type: 'close' });
    clientRefused(s);
    expect(s.tracer.spans).toEqual([]);
    expect(s.reporter.held).toBe(0);
    const durations = await histogram(s.telemetry, 'tcp.connection.duration');
    expect(durations.map((d) => d.attributes['tcp.connection.side']).sort()).toEqual(['client', 'server']);
  });
});

describe('metrics', () => {
  it('tcp.handshake.duration in buckets made for seconds', async () => {
    const s = setup('anomalies');
    clientRefused(s);
    const handshake = (await s.telemetry.metric('tcp.handshake.duration')) as HistogramMetricData | undefined;
    expect(handshake?.dataPoints[0]?.value.buckets.boundaries).toEqual([...HANDSHAKE_DURATION_BUCKETS]);
  });

  it('tcp.connection.duration by side and close reason; tcp.connection.count by state, 0 for a state its connections left', async () => {
    const s = setup('anomalies');
    const open = new FakeSocket(SERVER_PORT, CLIENT_PORT + 1);
    s.tracker.socketOpened(open, 'server', undefined);
    s.clock.advance(10);
    s.tracker.socketEvent(open, { type: 'end' });
    serverPassiveClose(s);
    const durations = await histogram(s.telemetry, 'tcp.connection.duration');
    expect(durations).toEqual([{ attributes: { 'network.transport': 'tcp', 'tcp.connection.side': 'server', 'tcp.close.reason': 'fin' }, count: 1 }]);
    // Seconds, in buckets made for seconds: the SDK's default boundaries (0 to 10000) would put every connection in the first.
    const duration = (await s.telemetry.metric('tcp.connection.duration')) as HistogramMetricData | undefined;
    expect(duration?.dataPoints[0]?.value.buckets.boundaries).toEqual([...CONNECTION_DURATION_BUCKETS]);
    const count = await s.telemetry.metric('tcp.connection.count');
    const byState = Object.fromEntries((count?.dataPoints ?? []).map((p) => [String(p.attributes['network.connection.state']), p.value]));
    expect(byState).toEqual({ established: 0, close_wait: 1, last_ack: 0 });
  });
});

describe('redactPeerAddresses', () => {
  it('leaves out every address of the other end, and an error’s message, keeping the ports', () => {
    const s = setup('all', { redactPeerAddresses: true });
    clientReset(s);
    const connection = only(s.tracer.named('tcp.connection'));
    const handshake = only(s.tracer.named('tcp.handshake'));
    for (const span of [connection, handshake]) {
      expect(span.attributes['network.peer.address']).toBeUndefined();
      expect(span.attributes['server.address']).toBeUndefined();
      expect(span.attributes['server.port']).toBe(SERVER_PORT);
    }
    expect(handshake.events).toEqual([{ name: 'dns.lookup', attributes: {}, time: expect.any(Number) }]);
    expect(connection.status).toEqual({ code: SpanStatusCode.ERROR, message: 'ECONNRESET' });
  });
});

describe('the parent of a span', () => {
  it('a server connection starts its own trace; a client one is made in the caller’s context', () => {
    const s = setup('all');
    serverPassiveClose(s);
    const client = new FakeSocket(CLIENT_PORT + 2, SERVER_PORT);
    s.tracker.socketOpened(client, 'client', undefined);
    const [server, clientSpan] = s.tracer.named('tcp.connection');
    expect(server?.parent).toBeUndefined();
    // No context manager here: the active context is the root one.
    expect(clientSpan?.parent).toBe(trace.getSpan(ROOT_CONTEXT));
  });
});

describe('a connection that carried HTTP requests', () => {
  const REQUEST_SPAN = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 };

  /** A pooled client connection that carried two GETs, then the server closed it idle. */
  function twoRequests(s: Setup): void {
    const socket = new FakeSocket(CLIENT_PORT, SERVER_PORT);
    s.tracker.socketOpened(socket, 'client', undefined);
    s.tracker.socketEvent(socket, { type: 'connect_called', host: '127.0.0.1', port: SERVER_PORT });
    s.tracker.socketEvent(socket, { type: 'connect' });
    s.tracker.requestStarted(socket, 'client', 'GET', '/a', undefined, undefined);
    s.tracker.socketPooled(socket, undefined, undefined);
    s.clock.advance(10);
    s.tracker.requestStarted(socket, 'client', 'GET', '/orders/7?token=x', REQUEST_SPAN, undefined);
    s.tracker.socketPooled(socket, undefined, 'timeout=5');
    s.clock.advance(1000);
    s.tracker.socketEvent(socket, { type: 'end' });
    s.tracker.socketEvent(socket, { type: 'close' });
  }

  it('names its last request on tcp.connection, links to that request’s span, and says how its pool life ended', () => {
    const s = setup('all');
    twoRequests(s);
    const span = only(s.tracer.spans.filter((x) => x.name === 'tcp.connection'));
    expect(span.attributes).toMatchObject({
      'http.request.method': 'GET',
      'url.path': '/orders/7',
      'tcp.connection.requests': 2,
      'error.type': 'peer_closed_idle',
    });
    expect(span.links).toEqual([{ context: REQUEST_SPAN }]);
  });

  it('leaves the path out under redactUrlPaths; the method, count and link stay', () => {
    const s = setup('all', { redactUrlPaths: true });
    twoRequests(s);
    const span = only(s.tracer.spans.filter((x) => x.name === 'tcp.connection'));
    expect(span.attributes['url.path']).toBeUndefined();
    expect(span.attributes).toMatchObject({ 'http.request.method': 'GET', 'tcp.connection.requests': 2 });
    expect(span.links).toHaveLength(1);
  });
});
