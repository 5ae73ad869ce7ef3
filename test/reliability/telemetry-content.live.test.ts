import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { instrument, optionsFromEnv, type SocklifeHandle } from '../../src/index.js';
import { missingTool, skipWithReason } from '../support/requirements.js';
import { createTelemetry, waitFor, type Telemetry } from '../support/telemetry.js';
import { captureDiag, listen, type DiagCapture } from './support.js';

// What leaves the process: never a byte of what the application sends or receives, and,
// under redactPeerAddresses, never the other end's address or the name it was reached by.

const POLL_MS = 100;
const THRESHOLD_MS = 300;
const skip = skipWithReason(missingTool('ss'));

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Exported {
  readonly telemetry: Telemetry;
  readonly log: string;
  readonly diagnostics: DiagCapture;
}

function start(options: Parameters<typeof instrument>[0]): Exported & { handle: SocklifeHandle } {
  const telemetry = createTelemetry();
  const dir = mkdtempSync(join(tmpdir(), 'socklife-content-'));
  const log = join(dir, 'findings.jsonl');
  const diagnostics = captureDiag();
  const handle = instrument({
    tracerProvider: telemetry.tracerProvider,
    meterProvider: telemetry.meterProvider,
    pollIntervalMs: POLL_MS,
    closeWaitThresholdMs: THRESHOLD_MS,
    source: 'ss',
    spans: 'all',
    log,
    ...options,
  });
  cleanups.push(async () => {
    handle.stop();
    diagnostics.dispose();
    await telemetry.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });
  return { telemetry, log, diagnostics, handle };
}

/** Everything a span carries that an exporter sends: name, attributes, events, status, links, resource. */
function spanText(span: ReadableSpan): string {
  return JSON.stringify({
    name: span.name,
    attributes: span.attributes,
    events: span.events.map((e) => ({ name: e.name, attributes: e.attributes })),
    status: span.status,
    links: span.links,
    resource: span.resource.attributes,
  });
}

async function metricsText(telemetry: Telemetry): Promise<string> {
  const names = ['tcp.connection.count', 'tcp.connection.duration', 'tcp.handshake.duration', 'tcp.close_wait.leak.count', 'tcp.finding.count'];
  return JSON.stringify(await Promise.all(names.map((n) => telemetry.metric(n))));
}

function logText(log: string): string {
  try {
    return readFileSync(log, 'utf8');
  } catch {
    return '';
  }
}

describe.skipIf(skip)('no payload bytes in telemetry', () => {
  it("a distinctive payload through leaking, reset, HTTP and DNS-resolved connections, spans: 'all' and the JSON log", async () => {
    const PAYLOAD = 'PAYLOAD-4f1c9e-do-not-export';
    const { telemetry, log, diagnostics } = start({});
    const sockets: net.Socket[] = [];
    cleanups.push(() => sockets.forEach((s) => s.destroy()));
    const keep = (s: net.Socket): net.Socket => {
      sockets.push(s);
      s.on('error', () => {});
      return s;
    };

    // A leak socket events prove (the payload read), one only the kernel sees (the payload unread), a reset.
    const halfOpen = net.createServer({ allowHalfOpen: true }, (s) => keep(s).resume());
    const neverReading = net.createServer((s) => keep(s).pause());
    const resetting = net.createServer((s) => keep(s).once('data', () => s.resetAndDestroy()));
    const servers = [halfOpen, neverReading, resetting];
    cleanups.push(() => servers.forEach((s) => s.close()));
    const ports = await Promise.all(servers.map((s) => listen(s)));
    const clientPorts: number[] = [];
    for (const [i, port] of ports.entries()) {
      // By name, so that a dns.lookup event is made too.
      const client = keep(net.connect({ host: 'localhost', port, family: 4 }));
      await once(client, 'connect');
      client.write(`${PAYLOAD} ${'x'.repeat(i * 50_000)}`);
      if (i < 2) client.end(PAYLOAD);
      clientPorts.push(client.localPort as number);
    }
    // HTTP: the payload in a header, the path and the bodies.
    const web = http.createServer((req, res) => {
      req.resume();
      res.setHeader('x-echo', PAYLOAD);
      res.end(PAYLOAD);
    });
    cleanups.push(() => void web.close());
    const webPort = await listen(web);
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: webPort, path: `/${PAYLOAD}`, method: 'POST', headers: { 'x-payload': PAYLOAD } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end(PAYLOAD);
    });
    expect(body).toBe(PAYLOAD);

    // Both leaks on record (the log has them), the reset and HTTP connections closed and exported.
    await waitFor(() => (logText(log).split('\n').filter(Boolean).length >= 2 ? true : undefined), 5000, 'both leaks in the log');
    await waitFor(
      () => (telemetry.spans('tcp.connection').some((s) => s.attributes['tcp.close.reason'] === 'reset') ? true : undefined),
      5000,
      'the reset connection span',
    );
    const exported = telemetry.spans();
    // The telemetry is there, and it names the connections (their ports), so a payload in it would be found.
    expect(exported.map((s) => s.name)).toEqual(expect.arrayContaining(['tcp.connection', 'tcp.handshake', 'tcp.close_wait.leak']));
    const all = [...exported.map(spanText), logText(log), await metricsText(telemetry), ...diagnostics.messages].join('\n');
    for (const port of clientPorts) expect(all).toContain(String(port));
    expect(all).toContain('localhost'); // the dns.lookup event, not redacted here
    expect(all).not.toContain(PAYLOAD);
    expect(all).not.toContain('x'.repeat(64));
  });
});

/**
 * A client bound to 127.0.0.3 reaching, by name, a server on 127.0.0.1; a refused connection
 * from 127.0.0.3 to 127.0.0.9; a leak on the server. Returns what each side's spans and the log hold.
 */
async function peerScenario(exported: Exported): Promise<{ clientText: string; serverText: string; logLines: string[] }> {
  const { telemetry, log } = exported;
  const accepted: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    accepted.push(s);
    s.resume();
  });
  cleanups.push(() => {
    accepted.forEach((s) => s.destroy());
    server.close();
  });
  const port = await listen(server, '127.0.0.1');
  const client = net.connect({ host: 'localhost', port, family: 4, localAddress: '127.0.0.3' });
  cleanups.push(() => void client.destroy());
  await once(client, 'connect');
  const clientPort = client.localPort;
  client.end('request'); // the server never ends: a leak, with the client as its peer
  const closed = net.createServer();
  const closedPort = await listen(closed, '127.0.0.9');
  await new Promise((r) => closed.close(r));
  const refused = net.connect({ host: '127.0.0.9', port: closedPort, localAddress: '127.0.0.3' });
  await once(refused, 'error');

  await waitFor(() => (logText(log).split('\n').filter(Boolean).length >= 1 ? true : undefined), 5000, 'the leak in the log');
  await waitFor(() => telemetry.spans('tcp.handshake').find((s) => s.attributes['error.type'] === 'ECONNREFUSED'), 3000, 'the refused handshake');
  accepted.forEach((s) => s.end());
  await waitFor(() => (telemetry.spans('tcp.connection').length >= 3 ? true : undefined), 3000, 'the three connection spans');
  const spans = telemetry.spans();
  const side = (s: ReadableSpan): unknown => s.attributes['tcp.connection.side'];
  // Handshake and half-close spans belong to their connection's side through their parent.
  const clientIds = new Set(spans.filter((s) => s.name === 'tcp.connection' && side(s) === 'client').map((s) => s.spanContext().spanId));
  const isClient = (s: ReadableSpan): boolean => side(s) === 'client' || clientIds.has(s.parentSpanContext?.spanId ?? '');
  const leak = spans.filter((s) => s.name === 'tcp.close_wait.leak');
  expect(leak.map((s) => s.attributes['client.port'])).toEqual([clientPort]);
  return {
    clientText: spans.filter(isClient).map(spanText).join('\n'),
    serverText: spans
      .filter((s) => !isClient(s))
      .map(spanText)
      .join('\n'),
    // The leak only: its client's half-close, stuck behind it, is a finding of its own.
    logLines: logText(log)
      .split('\n')
      .filter((l) => l.includes('"close_wait_leak"')),
  };
}

describe.skipIf(skip)('redactPeerAddresses', () => {
  it('without it, the peers are named: the scenario shows them (so the redaction test can fail)', async () => {
    const { clientText, serverText, logLines } = await peerScenario(start({}));
    expect(clientText).toContain('127.0.0.1');
    expect(clientText).toContain('"server.address":"localhost"');
    expect(clientText).toContain('127.0.0.9');
    expect(serverText).toContain('127.0.0.3');
    expect(logLines.join('\n')).toContain('127.0.0.3');
  });

  it('with it, no span, event, status or log line holds the peer address or the name it was reached by; ports stay', async () => {
    const exported = start({ redactPeerAddresses: true });
    const { clientText, serverText, logLines } = await peerScenario(exported);
    for (const peer of ['127.0.0.1', 'localhost', '127.0.0.9']) expect(clientText).not.toContain(peer);
    expect(serverText).not.toContain('127.0.0.3');
    expect(clientText).toContain('127.0.0.3'); // its own end stays
    expect(clientText).toContain('ECONNREFUSED');
    expect(clientText).toContain('"network.peer.port"');
    expect(serverText).toContain('"client.port"');
    expect(logLines).toHaveLength(1);
    const line = JSON.parse(logLines[0] as string) as { peer: Record<string, unknown>; local: { address: string } };
    expect(line.peer).toEqual({ port: expect.any(Number) });
    expect(line.local.address).toBe('127.0.0.1');
    expect(logLines[0]).not.toContain('127.0.0.3');
  });

  it('comes from SOCKLIFE_REDACT_PEER_ADDRESSES, checked like the other boolean options', () => {
    const warnings: string[] = [];
    expect(optionsFromEnv({ SOCKLIFE_REDACT_PEER_ADDRESSES: 'true' }, (w) => warnings.push(w))).toEqual({ redactPeerAddresses: true });
    expect(optionsFromEnv({ SOCKLIFE_REDACT_PEER_ADDRESSES: '0' }, (w) => warnings.push(w))).toEqual({ redactPeerAddresses: false });
    expect(optionsFromEnv({ SOCKLIFE_REDACT_PEER_ADDRESSES: 'yes please' }, (w) => warnings.push(w))).toEqual({});
    expect(warnings).toEqual(['socklife: environment variable SOCKLIFE_REDACT_PEER_ADDRESSES="yes please" is not true or false; using the default false']);
    expect(() => instrument({ redactPeerAddresses: 'yes' as unknown as boolean })).toThrow(
      new TypeError('socklife: option redactPeerAddresses must be true or false; got "yes"'),
    );
  });
});
