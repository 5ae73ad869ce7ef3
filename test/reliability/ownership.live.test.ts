import { execa } from 'execa';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { instrument } from '../../src/index.js';
import { missingTool, skipWithReason } from '../support/requirements.js';
import { SsPolls } from '../support/ss-polls.js';
import { createTelemetry, eventually, waitFor } from '../support/telemetry.js';
import { listen } from './support.js';

// A socket owned by another thread or process is never reported as this one's leak. The
// kernel table has every socket of the network namespace, so a poll does list theirs; it
// matches no record here. diagnostics_channel and net.Socket.prototype are per isolate: a
// worker thread's sockets never reach the main thread's socklife, and the other way round.

const THRESHOLD_MS = 300;
const skip = skipWithReason(missingTool('ss'));
const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server that greets and closes its side: a client that never reads is left in CLOSE_WAIT. */
async function greetingServer(): Promise<number> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.end('hello');
  });
  const port = await listen(server);
  cleanups.push(() => void server.close());
  return port;
}

function startThread(mode: 'hold' | 'watch', port: number): { worker: Worker; localPort: Promise<number> } {
  const worker = new Worker(join(__dirname, 'programs', 'thread-client.cjs'), { workerData: { mode, port } });
  cleanups.push(() => worker.terminate().then(() => undefined));
  const localPort = new Promise<number>((resolve, reject) => {
    worker.once('message', (m: { port: number }) => resolve(m.port));
    worker.once('error', reject);
  });
  return { worker, localPort };
}

/** A client of this thread that never reads. */
async function unreadClient(port: number): Promise<net.Socket> {
  const client = net.connect(port, '127.0.0.1');
  client.pause();
  cleanups.push(() => void client.destroy());
  await once(client, 'connect');
  return client;
}

describe.skipIf(skip)('worker_threads', () => {
  it("a worker thread's CLOSE_WAIT socket is not the main thread's leak, though the main thread's poll lists it", async () => {
    const telemetry = createTelemetry();
    cleanups.push(() => telemetry.shutdown());
    const handle = instrument({
      tracerProvider: telemetry.tracerProvider,
      meterProvider: telemetry.meterProvider,
      source: 'ss',
      pollIntervalMs: 100,
      closeWaitThresholdMs: THRESHOLD_MS,
    });
    cleanups.push(() => handle.stop());
    const polls = new SsPolls();
    cleanups.push(() => polls.dispose());
    const port = await greetingServer();
    const mine = await unreadClient(port);
    const thread = startThread('hold', port);
    const theirs = await thread.localPort;
    // The thread's socket enters CLOSE_WAIT as it connects (the server ends at accept): its threshold runs out about now + THRESHOLD_MS.
    const theirsPastThresholdAt = Date.now() + THRESHOLD_MS;

    // Both clients are in CLOSE_WAIT on the same peer port: one query lists both.
    const leak = await waitFor(
      () => telemetry.spans('tcp.close_wait.leak').find((s) => s.attributes['network.local.port'] === mine.localPort),
      5000,
      'the main thread leak',
    );
    expect(leak.attributes['tcp.close_wait.cause']).toBe('not_read_to_eof');
    expect(leak.attributes['tcp.connection.side']).toBe('client');
    const ss = await execa('ss', ['-t', '-n', '-H', 'state', 'close-wait', 'dport', '=', `:${port}`]);
    expect(ss.stdout).toContain(`:${theirs} `);
    // Past the thread socket's threshold, three polls that list it claim nothing.
    await new Promise((r) => setTimeout(r, Math.max(0, theirsPastThresholdAt - Date.now())));
    await polls.next(3);
    expect(telemetry.spans('tcp.close_wait.leak').map((s) => s.attributes['network.local.port'])).toEqual([mine.localPort]);
    // The main thread follows its own three connections (its client and the server's two accepted), not the thread's.
    const metric = await telemetry.metric('tcp.connection.count');
    expect((metric?.dataPoints ?? []).reduce((sum, p) => sum + Number(p.value), 0)).toBe(3);
  });

  it("socklife in a worker thread reports the worker's leak and not the main thread's", async () => {
    const port = await greetingServer();
    const mine = await unreadClient(port);
    const thread = startThread('watch', port);
    const theirs = await thread.localPort;
    const report = await eventually(
      async () => {
        thread.worker.postMessage('report');
        const [message] = (await once(thread.worker, 'message')) as [{ leaks: number[]; connections: number }];
        return message.leaks.length > 0 ? message : undefined;
      },
      5000,
      "the worker thread's leak",
    );
    await new Promise((r) => setTimeout(r, THRESHOLD_MS + 500));
    thread.worker.postMessage('report');
    const [last] = (await once(thread.worker, 'message')) as [{ leaks: number[]; connections: number }];
    expect(report.leaks).toEqual([theirs]);
    expect(last.leaks).toEqual([theirs]);
    expect(last.connections).toBe(1); // its own client only
    expect(mine.localPort).not.toBe(theirs);
  });
});

describe.skipIf(skip)('cluster', () => {
  it("worker A's leak is reported by worker A only, though worker B's polls list it", async () => {
    const out = mkdtempSync(join(tmpdir(), 'socklife-cluster-'));
    cleanups.push(() => rmSync(out, { recursive: true, force: true }));
    const result = await execa(process.execPath, ['--require', 'socklife/register', join(__dirname, 'programs', 'cluster-app.cjs')], {
      env: {
        OUT_DIR: out,
        CONNECTIONS: '6',
        RUN_MS: '3000',
        SOCKLIFE_SOURCE: 'ss',
        SOCKLIFE_POLL_INTERVAL_MS: '100',
        SOCKLIFE_CLOSE_WAIT_THRESHOLD_MS: String(THRESHOLD_MS),
        SOCKLIFE_LOG: join(out, 'primary.jsonl'),
      },
      reject: false,
      timeout: 20_000,
    });
    expect(result.exitCode, result.stderr).toBe(0);
    const ports = (id: number): number[] => {
      const file = join(out, `accepted-${id}.txt`);
      return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number).sort() : [];
    };
    const findings = (name: string): Array<{ cause: string; peer: { port: number } }> => {
      const file = join(out, name);
      // CLOSE_WAIT leaks only: the clients' half-closes are stuck too (their own findings, on their own side).
      return existsSync(file)
        ? readFileSync(file, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as { type: string; cause: string; peer: { port: number } })
            .filter((f) => f.type === 'close_wait_leak')
        : [];
    };
    const [one, two] = [ports(1), ports(2)];
    expect(one.length).toBeGreaterThan(0);
    expect(two.length).toBeGreaterThan(0);
    expect(one.length + two.length).toBe(6);
    // Each worker reports exactly its own connections, each once, with its own cause.
    const a = findings('worker-1.jsonl');
    const b = findings('worker-2.jsonl');
    expect(a.map((f) => f.peer.port).sort()).toEqual(one);
    expect(b.map((f) => f.peer.port).sort()).toEqual(two);
    expect(new Set(a.map((f) => f.cause))).toEqual(new Set(['not_read_to_eof']));
    expect(new Set(b.map((f) => f.cause))).toEqual(new Set(['end_not_called']));
    expect(findings('primary.jsonl')).toEqual([]);
  }, 30_000);
});
