import { existsSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import type { Socket } from 'node:net';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { instrumentedWithServer, type InstrumentedWithServer } from '../support/instrumented-with-server.js';
import { waitFor, type Telemetry } from '../support/telemetry.js';

/** The servers close idle keep-alive connections after this long, with no hint. */
const SERVER_IDLE_MS = 1000;

let telemetry: Telemetry;
let ports: number[];
let fixture: InstrumentedWithServer;

beforeEach(async () => {
  ({ telemetry, ports } = fixture = await instrumentedWithServer('keepalive-server.cjs', { IDLE_MS: String(SERVER_IDLE_MS), CROSS: '1' }));
});

afterEach(async () => {
  await fixture.stop();
});

/**
 * Blocks this event loop, as a busy client's would be, until the kernel shows our end of the
 * connection from `localPort` in CLOSE_WAIT: the server's FIN has arrived and Node has not read
 * it. Bounded: throws after `timeoutMs`.
 */
function blockUntilCloseWait(localPort: number, timeoutMs = 10_000): void {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const port = `:${localPort.toString(16).toUpperCase().padStart(4, '0')} `;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // /proc/net/tcp: "sl local_address rem_address st ...", st 08 is CLOSE_WAIT.
    const rows = readFileSync('/proc/net/tcp', 'utf8').split('\n');
    if (rows.some((row) => row.trim().split(/\s+/)[1]?.endsWith(port.trim()) === true && row.trim().split(/\s+/)[3] === '08')) return;
    if (Date.now() > deadline) throw new Error(`port ${localPort} never reached CLOSE_WAIT`);
    Atomics.wait(nap, 0, 0, 10);
  }
}

/** One GET through `agent`: its status, or its error's code, and the socket's local port. */
function get(
  port: number,
  agent: http.Agent,
  path = '/items/7?fields=all',
): Promise<{ status?: number; error?: string; localPort?: number; socket?: Socket; reused: boolean }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, localPort: req.socket?.localPort, socket: req.socket ?? undefined, reused: req.reusedSocket }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code, reused: req.reusedSocket }));
  });
}

function staleReuses(): ReadableSpan[] {
  return telemetry.spans('tcp.keepalive.stale_reuse');
}

describe.skipIf(!existsSync('/proc/net/tcp'))('the keep-alive race, found on the client', () => {
  it('http.Agent: a request on a pooled connection the server closed while the event loop was busy', async () => {
    const agent = new http.Agent({ keepAlive: true });
    const first = await get(ports[0] as number, agent);
    expect(first.status).toBe(200);
    blockUntilCloseWait(first.localPort as number);
    const second = await get(ports[0] as number, agent);
    agent.destroy();
    // The race itself, as the application saw it: the request failed on the reused socket.
    expect(second).toMatchObject({ error: 'ECONNRESET', reused: true });

    const [span] = await waitFor(() => (staleReuses().length > 0 ? staleReuses() : undefined), 5000, 'the stale-reuse finding');
    expect(span?.attributes).toMatchObject({
      'tcp.keepalive.race': 'failed_on_reuse',
      'server.address': '127.0.0.1',
      'server.port': ports[0],
      'http.request.method': 'GET',
      'url.path': '/items/7',
      'tcp.connection.requests': 2,
    });
    expect(span?.attributes['tcp.keepalive.idle_ms']).toBeGreaterThanOrEqual(SERVER_IDLE_MS - 50);
    // The agent has no idle timeout and the server sent no hint: neither is said.
    expect(span?.attributes['tcp.keepalive.pool_idle_timeout_ms']).toBeUndefined();
    expect(span?.attributes['tcp.keepalive.server_hint_ms']).toBeUndefined();
    expect(span?.status.message).toMatch(/idle timeout shorter than the server's.*req\.reusedSocket/);
    const count = await telemetry.metric('tcp.finding.count');
    const point = count?.dataPoints.find((p) => p.attributes['tcp.finding.type'] === 'keepalive_stale_reuse');
    expect(point?.value).toBe(1);
  });

  it('fetch (undici): no race behind a busy event loop, and the race when the close crosses the request', async () => {
    // Behind a busy event loop, fetch reads the server's FIN before it sends (its dispatch
    // waits past the turn's I/O): it opens a new connection, and nothing is reported.
    const busy = `http://127.0.0.1:${ports[0]}/items/8`;
    await (await fetch(busy)).text();
    const localPort = await waitFor(() => clientPortTowards(ports[0] as number), 2000, 'the pooled connection');
    blockUntilCloseWait(localPort);
    const afterBusy = await fetch(busy);
    await afterBusy.text();
    expect(afterBusy.status).toBe(200);

    // The race on the wire: the second server closes the connection as the reused request arrives.
    const crossed = `http://127.0.0.1:${ports[1]}/items/9?x=1`;
    await (await fetch(crossed)).text();
    // undici puts the connection back in its pool at the end of the turn that completed the response.
    await new Promise((resolve) => setImmediate(resolve));
    const second = await fetch(crossed).then(
      (r) => String(r.status),
      (error: Error & { cause?: { code?: string } }) => error.cause?.code ?? error.message,
    );
    expect(second).toBe('UND_ERR_SOCKET');

    const spans = await waitFor(() => (staleReuses().length > 0 ? staleReuses() : undefined), 5000, 'the stale-reuse finding');
    expect(spans.map((s) => s.attributes['server.port'])).toEqual([ports[1]]);
    expect(spans[0]?.attributes).toMatchObject({
      'tcp.keepalive.race': 'failed_on_reuse',
      'error.type': 'UND_ERR_SOCKET',
      'http.request.method': 'GET',
      'url.path': '/items/9',
      'tcp.connection.requests': 2,
    });
  });

  it('reports nothing for a client whose idle timeout is shorter than the server', async () => {
    // The good client, towards the first server: its agent closes idle sockets before the server does.
    const good = new http.Agent({ keepAlive: true, timeout: SERVER_IDLE_MS / 2 });
    const first = await get(ports[0] as number, good);
    expect(first.status).toBe(200);
    // Its idle timeout closes the pooled socket (wait for it; the event loop is free).
    await waitFor(() => (first.socket?.destroyed === true ? true : undefined), 5000, 'the agent to close its idle socket');
    const second = await get(ports[0] as number, good);
    expect(second).toMatchObject({ status: 200, reused: false });
    good.destroy();

    // A racing client towards the second server: once its finding is out, polls have run past the good client's requests.
    const bad = new http.Agent({ keepAlive: true });
    const racing = await get(ports[1] as number, bad);
    blockUntilCloseWait(racing.localPort as number);
    await get(ports[1] as number, bad);
    bad.destroy();
    await waitFor(() => (staleReuses().length > 0 ? true : undefined), 5000, 'the racing client’s finding');
    expect(staleReuses().map((s) => s.attributes['server.port'])).toEqual([ports[1]]);
  });
});

/** The local port of this process's one open socket towards `port`, from /proc/net/tcp. */
function clientPortTowards(port: number): number | undefined {
  const remote = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const row of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = row.trim().split(/\s+/);
    if (fields[2]?.endsWith(remote) === true && fields[3] === '01') return Number.parseInt((fields[1] ?? '').split(':')[1] ?? '', 16);
  }
  return undefined;
}
