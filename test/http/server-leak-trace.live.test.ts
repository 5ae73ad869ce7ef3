import { once } from 'node:events';
import * as net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JsonLinesChild } from '../support/json-lines-child.js';
import { missingTool, skipWithReason } from '../support/requirements.js';
import { waitFor } from '../support/telemetry.js';

const ROOT = join(__dirname, '..', '..');
const PROGRAM = join(__dirname, '..', 'programs', 'http-traced-leak.cjs');
/** The trace the client's request belongs to (its `traceparent`): the server span joins it. */
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN_ID = '00f067aa0ba902b7';

interface SpanLine {
  span: string;
  traceId: string;
  spanId: string;
  attributes: Record<string, unknown>;
  links: Array<{ traceId: string; spanId: string }>;
}

const children: JsonLinesChild[] = [];
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(children.splice(0).map((c) => c.stop()));
});

/** Starts the server program, sends one request it never answers, and half-closes: its connection leaks in CLOSE_WAIT. */
async function leakOneRequest(order: 'socklife-first' | 'instrumentation-first', path = '/uploads/batch?user=42') {
  const child = new JsonLinesChild(undefined, [PROGRAM], { cwd: ROOT, env: { ORDER: order } });
  children.push(child);
  const port = await child.waitFor((l) => (typeof l['port'] === 'number' ? l['port'] : undefined), 10_000, 'the port');
  const socket = net.connect(port, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.on('data', () => {});
  socket.end(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\ntraceparent: 00-${TRACE_ID}-${PARENT_SPAN_ID}-01\r\n\r\n`);
  const handler = await child.waitFor((l) => l['handler'] as { traceId?: string; spanId?: string } | undefined, 10_000, 'the request in its handler');
  const leak = await child.waitFor((l) => (l['span'] === 'tcp.close_wait.leak' ? (l as unknown as SpanLine) : undefined), 10_000, 'the leak span');
  return { child, handler, leak };
}

describe.skipIf(skipWithReason(missingTool('ss')))('a server leak joined to the trace of the request it came from', () => {
  it('names the request and links to its server span when socklife started before the HTTP instrumentation', async () => {
    const { handler, leak, child } = await leakOneRequest('socklife-first');
    // The application's own view of its request span: in the client's trace.
    expect(handler.traceId).toBe(TRACE_ID);
    expect(leak.links).toEqual([{ traceId: TRACE_ID, spanId: handler.spanId }]);
    expect(leak.attributes).toMatchObject({
      'http.request.method': 'POST',
      'url.path': '/uploads/batch',
      'tcp.connection.requests': 1,
      'nodejs.http.request_handler': 'neverAnswers',
      'tcp.close_wait.cause': 'end_not_called',
    });
    // The JSON log says the same, with the link.
    // Written to stderr right after the span goes to stdout: it may come a little later.
    const logged = await waitFor(() => child.stderr.split('\n').find((l) => l.includes('"close_wait_leak"')), 5000, 'the JSON line');
    expect(JSON.parse(logged)).toMatchObject({ link: { traceId: TRACE_ID, spanId: handler.spanId }, attributes: { 'url.path': '/uploads/batch' } });
  });

  it('names the route an instrumentation set while routing, in place of the path', async () => {
    const { leak } = await leakOneRequest('socklife-first', '/orders/42?expand=1');
    expect(leak.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/orders/:id' });
    expect(leak.attributes['url.path']).toBeUndefined();
  });

  it('names the request, with no link, when the instrumentation patched http first and the request is never answered', async () => {
    const { handler, leak } = await leakOneRequest('instrumentation-first');
    expect(handler.traceId).toBe(TRACE_ID);
    // socklife's wrapper runs outside the instrumentation's: no code of it runs inside the span.
    expect(leak.links).toEqual([]);
    expect(leak.attributes).toMatchObject({ 'http.request.method': 'POST', 'url.path': '/uploads/batch', 'tcp.connection.requests': 1 });
  });

  it('links an answered request to its server span when the instrumentation patched http first (taken at the response’s end)', async () => {
    const { handler, leak } = await leakOneRequest('instrumentation-first', '/answered/1');
    expect(handler.traceId).toBe(TRACE_ID);
    expect(leak.links).toEqual([{ traceId: TRACE_ID, spanId: handler.spanId }]);
    expect(leak.attributes).toMatchObject({ 'url.path': '/answered/1', 'tcp.close_wait.cause': 'not_read_to_eof' });
  });
});

describe('a client connection joined to the trace of its last request', () => {
  it('links the tcp.connection span to the HTTP instrumentation’s client span of the last request', async () => {
    const child = new JsonLinesChild(undefined, [join(__dirname, '..', 'programs', 'http-traced-client.cjs')], { cwd: ROOT });
    children.push(child);
    await child.waitFor((l) => (l['done'] === true ? true : undefined), 10_000, 'the requests');
    const spans = child.lines.filter((l) => typeof l['span'] === 'string') as unknown as Array<SpanLine & { kind: number }>;
    // SpanKind.CLIENT is 2: the instrumentation's spans of the two GETs, in order.
    const clientSpans = spans.filter((s) => s.kind === 2 && s.span !== 'tcp.connection');
    expect(clientSpans.map((s) => s.attributes['url.path'] ?? s.attributes['http.target'])).toHaveLength(2);
    const connection = spans.find((s) => s.span === 'tcp.connection' && s.attributes['tcp.connection.side'] === 'client');
    expect(connection?.attributes).toMatchObject({ 'http.request.method': 'GET', 'url.path': '/orders/7', 'tcp.connection.requests': 2 });
    expect(connection?.links.map((l) => l.spanId)).toEqual([clientSpans[1]?.spanId]);
  });
});
