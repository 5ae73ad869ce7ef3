import { context, SpanKind, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { execa } from 'execa';
import { once } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';
import { join } from 'node:path';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { instrument, type SocklifeHandle, type SpanPolicy } from '../../src/index.js';
import { canUseNetns, createNetns } from '../harness/netns.js';
import { missingTool, skipWithReason } from '../support/requirements.js';
import { createTelemetry, epochMs, hrToMs, waitFor, type Telemetry } from '../support/telemetry.js';

const skip = skipWithReason(missingTool('ss'));
const ROOT = join(__dirname, '..', '..');

let handle: SocklifeHandle | undefined;
const cleanups: Array<() => void> = [];

// Parents are carried by the active context, as an application's SDK set-up would carry them.
beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
afterAll(() => {
  context.disable();
});

afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
  handle?.stop();
  handle = undefined;
});

/** Runs a scenario under one span policy with a fresh SDK; returns the SDK's record of it. */
async function underPolicy(spans: SpanPolicy, scenario: (telemetry: Telemetry) => Promise<void>): Promise<Telemetry> {
  const telemetry = createTelemetry();
  handle = instrument({
    tracerProvider: telemetry.tracerProvider,
    meterProvider: telemetry.meterProvider,
    pollIntervalMs: 50,
    closeWaitThresholdMs: 300,
    source: 'ss',
    spans,
    // The host's TIME_WAIT count (other tests churn connections) must not add the TIME_WAIT query's rows.
    timeWaitThreshold: 10_000_000,
  });
  try {
    await scenario(telemetry);
  } finally {
    for (const cleanup of cleanups.splice(0).reverse()) cleanup();
    handle.stop();
    handle = undefined;
  }
  return telemetry;
}

/** Resolves at `'close'` (events.once would reject on the `'error'` that comes before it). */
function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

async function listening(server: net.Server): Promise<number> {
  if (!server.listening) await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

/** What must be the same whichever policy made a span: name, kind, attribute names, event names and states. */
function shape(span: ReadableSpan) {
  return {
    name: span.name,
    kind: span.kind,
    attributes: Object.keys(span.attributes).sort(),
    events: span.events.map((e) => `${e.name}:${String(e.attributes?.['network.connection.state'] ?? '')}:${String(e.attributes?.['tcp.state.source'] ?? '')}`),
  };
}

/** The connection spans and their children, by side, as shapes. */
function connectionShapes(telemetry: Telemetry) {
  const out: Record<string, unknown[]> = {};
  for (const span of telemetry.spans('tcp.connection')) {
    const side = String(span.attributes['tcp.connection.side']);
    const children = telemetry
      .spans()
      .filter((s) => s.parentSpanContext?.spanId === span.spanContext().spanId && s.name !== 'tcp.close_wait.leak')
      .map(shape)
      .sort((a, b) => a.name.localeCompare(b.name));
    (out[side] ??= []).push({ ...shape(span), children });
  }
  return out;
}

/** Connections closed, as the duration histogram counts them, by side. */
async function closedCount(telemetry: Telemetry, side: string): Promise<number> {
  const metric = await telemetry.metric('tcp.connection.duration');
  return (metric?.dataPoints ?? []).filter((p) => p.attributes['tcp.connection.side'] === side).reduce((n, p) => n + (p.value as { count: number }).count, 0);
}

/** Notable connections: each must export the same spans under `anomalies` as under `all`. */
const NOTABLE: Record<string, (telemetry: Telemetry) => Promise<void>> = {
  'a reset': async (telemetry) => {
    const server = net.createServer((socket) => socket.resetAndDestroy()).listen(0, '127.0.0.1');
    cleanups.push(() => server.close());
    const port = await listening(server);
    const client = net.connect(port, '127.0.0.1');
    client.on('error', () => {});
    await closed(client);
    await waitFor(() => (telemetry.spans('tcp.connection').length >= 2 ? true : undefined), 5000, 'both connection spans');
  },
  'a refused connect': async (telemetry) => {
    const probe = net.createServer().listen(0, '127.0.0.1');
    const port = await listening(probe);
    await new Promise((resolve) => probe.close(resolve));
    const client = net.connect(port, '127.0.0.1');
    client.on('error', () => {});
    await closed(client);
    await waitFor(() => (telemetry.spans('tcp.connection').length >= 1 ? true : undefined), 5000, 'the client span');
  },
  'a half-close that carries data after the first FIN': async (telemetry) => {
    const server = net
      .createServer({ allowHalfOpen: true }, (socket) => {
        socket.resume();
        socket.on('end', () => socket.end('response after the FIN'));
      })
      .listen(0, '127.0.0.1');
    cleanups.push(() => server.close());
    const port = await listening(server);
    const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => client.end('request'));
    client.resume();
    await closed(client);
    await waitFor(() => (telemetry.spans('tcp.connection').length >= 2 ? true : undefined), 5000, 'both connection spans');
  },
  'a CLOSE_WAIT leak': async (telemetry) => {
    const accepted: net.Socket[] = [];
    const server = net.createServer({ allowHalfOpen: true }, (socket) => accepted.push(socket.resume())).listen(0, '127.0.0.1');
    cleanups.push(() => server.close());
    const port = await listening(server);
    const client = net.connect(port, '127.0.0.1', () => client.end());
    await waitFor(() => telemetry.spans('tcp.close_wait.leak')[0], 5000, 'the leak');
    for (const socket of accepted) socket.destroy();
    await waitFor(() => (telemetry.spans('tcp.connection').some((s) => s.kind === SpanKind.SERVER) ? true : undefined), 5000, 'the server span');
    client.destroy();
  },
};

describe.skipIf(skip)('span policy on live sockets, real SDK', () => {
  it('anomalies (the default): healthy HTTP traffic, keep-alive and one-shot, exports no connection spans; metrics count every connection', async () => {
    for (const spans of ['anomalies', 'findings', 'all'] as const) {
      const telemetry = await underPolicy(spans, async (t) => {
        const server = http.createServer((req, res) => {
          req.resume();
          req.on('end', () => res.end('ok'));
        });
        server.keepAliveTimeout = 100;
        cleanups.push(() => server.close());
        const port = await listening(server.listen(0, '127.0.0.1'));
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        cleanups.push(() => agent.destroy());
        for (const a of [agent, agent, agent, false, false] as const) {
          await new Promise<void>((resolve, reject) => {
            http.get({ host: '127.0.0.1', port, agent: a }, (res) => res.resume().on('end', resolve)).on('error', reject);
          });
        }
        // Until every connection has closed on both sides (the keep-alive one by the server's timeout).
        const deadline = Date.now() + 5000;
        const settled = async (): Promise<boolean> => {
          const servers = await closedCount(t, 'server');
          return servers >= 3 && (await closedCount(t, 'client')) === servers;
        };
        while (!(await settled()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      });
      const connections = telemetry.spans('tcp.connection');
      const clients = await closedCount(telemetry, 'client');
      // Every connection is counted, on each side, whatever the policy: at least one keep-alive and two one-shot.
      expect(clients).toBeGreaterThanOrEqual(3);
      expect(await closedCount(telemetry, 'server')).toBe(clients);
      if (spans === 'all') expect(connections.length).toBe(2 * clients);
      else expect(connections).toEqual([]);
      await telemetry.shutdown();
    }
  });

  for (const [name, scenario] of Object.entries(NOTABLE)) {
    it(`anomalies: ${name} exports its connection spans as under all`, async () => {
      const all = await underPolicy('all', scenario);
      const anomalies = await underPolicy('anomalies', scenario);
      const expected = connectionShapes(all);
      const got = connectionShapes(anomalies);
      if (name === 'a CLOSE_WAIT leak') {
        // The leaking (server) side is notable. Its client waits for a FIN that never comes: it
        // is notable only once its own finding (a stuck half-close) names it.
        expect(got.server).toEqual(expected.server);
        const stuck = anomalies.spans('tcp.half_close.stuck');
        expect(got.client?.length ?? 0).toBeLessThanOrEqual(stuck.length);
        const [leak] = anomalies.spans('tcp.close_wait.leak');
        const connection = anomalies.spans('tcp.connection').find((c) => c.kind === SpanKind.SERVER);
        expect(leak?.parentSpanContext?.spanId).toBe(connection?.spanContext().spanId);
      } else {
        expect(got).toEqual(expected);
      }
      expect(Object.keys(got).length).toBeGreaterThan(0);
      await all.shutdown();
      await anomalies.shutdown();
    });
  }

  it('anomalies: a notable client connection keeps its parent and its real start time', async () => {
    const before = epochMs();
    const telemetry = await underPolicy('anomalies', async (t) => {
      // The server resets the connection 200 ms after accepting it.
      const server = net.createServer((socket) => setTimeout(() => socket.resetAndDestroy(), 200)).listen(0, '127.0.0.1');
      cleanups.push(() => server.close());
      const port = await listening(server);
      const parent = t.tracerProvider.getTracer('test').startSpan('parent');
      await context.with(trace.setSpan(context.active(), parent), async () => {
        const client = net.connect(port, '127.0.0.1');
        client.on('error', () => {});
        await closed(client);
      });
      parent.end();
      await waitFor(() => t.spans('tcp.connection').find((s) => s.kind === SpanKind.CLIENT), 5000, 'the client span');
    });
    const [client] = telemetry.spans('tcp.connection').filter((s) => s.kind === SpanKind.CLIENT);
    const [parent] = telemetry.spans('parent');
    expect(client?.parentSpanContext?.spanId).toBe(parent?.spanContext().spanId);
    const start = hrToMs(client?.startTime as [number, number]);
    expect(start).toBeGreaterThanOrEqual(before - 1);
    // Made at close, it starts when the socket was made: well before its end (the reset 200 ms later).
    expect(hrToMs(client?.endTime as [number, number]) - start).toBeGreaterThanOrEqual(150);
    const eventTimes = (client?.events ?? []).map((e) => hrToMs(e.time));
    expect(eventTimes).toEqual([...eventTimes].sort((a, b) => a - b));
    expect(eventTimes[0]).toBeGreaterThanOrEqual(start - 1);
    await telemetry.shutdown();
  });

  it('findings: only findings, not even the connection a finding names', async () => {
    const t = await underPolicy('findings', async (tel) => {
      const accepted: net.Socket[] = [];
      const server = net.createServer({ allowHalfOpen: true }, (socket) => accepted.push(socket.resume())).listen(0, '127.0.0.1');
      cleanups.push(() => server.close());
      const port = await listening(server);
      const client = net.connect(port, '127.0.0.1', () => client.end());
      cleanups.push(() => client.destroy());
      await waitFor(() => tel.spans('tcp.close_wait.leak')[0], 5000, 'the leak');
      const closes = [client, ...accepted].map((socket) => (socket.closed ? undefined : closed(socket)));
      for (const socket of accepted) socket.destroy();
      // Both ends closed: a connection span would have been made then.
      await Promise.all(closes);
    });
    const names = t.spans().map((s) => s.name);
    expect(names).toContain('tcp.close_wait.leak');
    // The client's half-close may be found stuck too; no connection span either way.
    expect(names.filter((n) => n !== 'tcp.close_wait.leak' && n !== 'tcp.half_close.stuck')).toEqual([]);
    expect(t.spans('tcp.close_wait.leak')[0]?.parentSpanContext).toBeUndefined();
    await t.shutdown();
  });

  it('requireParentSpan: a client connection without an active span makes no span, one inside a span does', async () => {
    const telemetry = createTelemetry();
    handle = instrument({
      tracerProvider: telemetry.tracerProvider,
      meterProvider: telemetry.meterProvider,
      source: 'none',
      spans: 'all',
      requireParentSpan: true,
    });
    const server = net.createServer((socket) => socket.end()).listen(0, '127.0.0.1');
    cleanups.push(() => server.close());
    const port = await listening(server);
    const orphan = net.connect(port, '127.0.0.1');
    orphan.resume();
    await closed(orphan);
    const parent = telemetry.tracerProvider.getTracer('test').startSpan('parent');
    await context.with(trace.setSpan(context.active(), parent), async () => {
      const child = net.connect(port, '127.0.0.1');
      child.resume();
      await closed(child);
    });
    parent.end();
    await waitFor(() => (telemetry.spans('tcp.connection').length >= 3 ? true : undefined), 5000, 'the spans');
    const clients = telemetry.spans('tcp.connection').filter((s) => s.kind === SpanKind.CLIENT);
    expect(clients.length).toBe(1);
    expect(clients[0]?.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    // Server spans start their own trace and are made as before.
    expect(telemetry.spans('tcp.connection').filter((s) => s.kind === SpanKind.SERVER).length).toBe(2);
    await telemetry.shutdown();
  });
});

describe('a slow handshake (the first SYN dropped in a private namespace)', async () => {
  const skipNetns = skipWithReason(await canUseNetns());

  interface PrintedSpan {
    readonly name: string;
    readonly startMs: number;
    readonly attributes: Record<string, unknown>;
    readonly events: unknown[];
  }

  /** Runs test/programs/slow-handshake.cjs under the drop-in in a fresh namespace whose first SYN to the port is dropped. */
  async function runSlowHandshake(spans: SpanPolicy): Promise<{ spans: PrintedSpan[]; connectAt: number }> {
    const netns = await createNetns();
    try {
      // The first SYN uses up the quota (60 bytes) and is dropped: the client retransmits a second later.
      await netns.applyRuleset(`table inet slow {
  chain out {
    type filter hook output priority 0;
    tcp dport 7101 tcp flags syn quota until 100 bytes drop
  }
}
`);
      const result = await execa(
        'ip',
        ['netns', 'exec', netns.name, process.execPath, '--require', join(ROOT, 'dist/cjs/register.js'), join(ROOT, 'test/programs/slow-handshake.cjs')],
        {
          env: { PORT: '7101', SOCKLIFE_SPANS: spans, SOCKLIFE_SLOW_HANDSHAKE_MS: '500', SOCKLIFE_SOURCE: 'none' },
          timeout: 20_000,
          reject: false,
        },
      );
      const lines = String(result.stdout).split('\n');
      expect(lines).toContain('done');
      const connectAt = (JSON.parse(lines.find((l) => l.startsWith('{"connectAt"')) ?? '{}') as { connectAt: number }).connectAt;
      return { spans: lines.filter((l) => l.startsWith('{"name"')).map((l) => JSON.parse(l) as PrintedSpan), connectAt };
    } finally {
      await netns.dispose();
    }
  }

  it.skipIf(skipNetns)('anomalies exports the slow client connection and its handshake as all does, from their real start', async () => {
    const all = await runSlowHandshake('all');
    const anomalies = await runSlowHandshake('anomalies');
    const shapeOf = (lines: PrintedSpan[]) =>
      lines
        .filter((l) => l.name === 'tcp.handshake' || (l.name === 'tcp.connection' && l.attributes['tcp.connection.side'] === 'client'))
        .map((l) => ({ name: l.name, attributes: Object.keys(l.attributes).sort(), events: l.events }))
        .sort((a, b) => a.name.localeCompare(b.name));
    expect(shapeOf(anomalies.spans)).toEqual(shapeOf(all.spans));
    expect(shapeOf(anomalies.spans).map((s) => s.name)).toEqual(['tcp.connection', 'tcp.handshake']);
    // The healthy server side makes no span under anomalies.
    expect(anomalies.spans.filter((l) => l.attributes['tcp.connection.side'] === 'server')).toEqual([]);
    const handshake = anomalies.spans.find((l) => l.name === 'tcp.handshake');
    expect(Math.abs((handshake?.startMs ?? 0) - anomalies.connectAt)).toBeLessThan(50);
  });
});
