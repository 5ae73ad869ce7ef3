import * as http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { instrumentedWithServer, type InstrumentedWithServer } from '../support/instrumented-with-server.js';
import { waitFor, type Telemetry } from '../support/telemetry.js';

/** The servers close idle keep-alive connections after this long, with no hint. */
const SERVER_IDLE_MS = 1000;
/** The clients send a request this often: each time after the server's idle close, so none races. */
const INTERVAL_MS = 1500;

let telemetry: Telemetry;
let ports: number[];
let fixture: InstrumentedWithServer;

beforeEach(async () => {
  ({ telemetry, ports } = fixture = await instrumentedWithServer('idle-close-server.cjs', { IDLE_MS: String(SERVER_IDLE_MS) }));
});

afterEach(async () => {
  await fixture.stop();
});

function get(port: number, agent: http.Agent): Promise<{ status?: number; error?: string; reused: boolean }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/tick', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, reused: req.reusedSocket }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code, reused: req.reusedSocket }));
  });
}

describe('the keep-alive race, predicted before it fails', () => {
  it('http.Agent and fetch against a server that closes idle connections after 1 s, requests every 1.5 s', async () => {
    const agent = new http.Agent({ keepAlive: true });
    const results: Array<{ status?: number; error?: string; reused: boolean }> = [];
    const fetched: string[] = [];
    let done = false;
    const predicted = () => telemetry.spans('tcp.keepalive.race_predicted');
    const loop = (async () => {
      while (!done) {
        const [r, f] = await Promise.all([
          get(ports[0] as number, agent),
          fetch(`http://127.0.0.1:${ports[1]}/tick`).then(
            async (res) => `${res.status}${await res.text()}`,
            (error: Error) => error.message,
          ),
        ]);
        results.push(r);
        fetched.push(f);
        if (predicted().length >= 2) break;
        await delay(INTERVAL_MS);
      }
    })();
    try {
      await waitFor(() => (predicted().length >= 2 ? true : undefined), 20_000, 'both predictions');
    } finally {
      done = true;
      await loop;
      agent.destroy();
    }
    // Nothing failed: every request went out on a new connection, after the server's close.
    expect(results.every((r) => r.status === 200 && !r.reused)).toBe(true);
    expect(fetched.every((f) => f === '200ok')).toBe(true);
    expect(telemetry.spans('tcp.keepalive.stale_reuse')).toEqual([]);

    const byPort = new Map(predicted().map((s) => [s.attributes['server.port'], s]));
    const agentSpan = byPort.get(ports[0]);
    expect(agentSpan?.attributes).toMatchObject({ 'server.address': '127.0.0.1', 'tcp.keepalive.pool_idle_timeout': 'none' });
    expect(agentSpan?.attributes['tcp.keepalive.peer_idle_close.count']).toBeGreaterThanOrEqual(3);
    const median = agentSpan?.attributes['tcp.keepalive.peer_idle_close.median_ms'] as number;
    expect(median).toBeGreaterThanOrEqual(SERVER_IDLE_MS - 50);
    expect(median).toBeLessThan(INTERVAL_MS);
    expect(agentSpan?.status.message).toMatch(/server closed \d+ idle pooled connections.*no idle timeout.*database or Redis/);
    // undici's pool idle timeout, read from its client: longer than the server's.
    expect(byPort.get(ports[1])?.attributes['tcp.keepalive.pool_idle_timeout']).toBe('set');
    expect(byPort.get(ports[1])?.attributes['tcp.keepalive.pool_idle_timeout_ms']).toBeGreaterThan(SERVER_IDLE_MS);
    const count = await telemetry.metric('tcp.finding.count');
    expect(count?.dataPoints.find((p) => p.attributes['tcp.finding.type'] === 'keepalive_race_predicted')?.value).toBe(2);
  }, 30_000);

  it('reports nothing for a client whose idle timeout is shorter than the server’s', async () => {
    // The pool closes idle sockets after half the server's idle timeout: it never sees the server's FIN.
    const agent = new http.Agent({ keepAlive: true, timeout: SERVER_IDLE_MS / 2 });
    const results: Array<{ status?: number; error?: string; reused: boolean }> = [];
    for (let i = 0; i < 5; i++) {
      results.push(await get(ports[0] as number, agent));
      await delay(SERVER_IDLE_MS * 0.75);
    }
    // A racing client towards the other server: once its prediction is out, polls have run past the good client's closes.
    const bad = new http.Agent({ keepAlive: true });
    for (let i = 0; i < 4; i++) {
      await get(ports[1] as number, bad);
      await delay(INTERVAL_MS);
    }
    await waitFor(() => (telemetry.spans('tcp.keepalive.race_predicted').length > 0 ? true : undefined), 5000, 'the racing client’s prediction');
    agent.destroy();
    bad.destroy();
    expect(results.every((r) => r.status === 200 && !r.reused)).toBe(true);
    expect(telemetry.spans('tcp.keepalive.race_predicted').map((s) => s.attributes['server.port'])).toEqual([ports[1]]);
  }, 30_000);
});
