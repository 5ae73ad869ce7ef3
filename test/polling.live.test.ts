import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { instrument, type SocklifeHandle } from '../src/index.js';
import { missingTool, skipWithReason } from './support/requirements.js';
import { createTelemetry } from './support/telemetry.js';

const skip = skipWithReason(missingTool('ss'));

/** The real ss, found on PATH the way execa finds it. */
function realSs(): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, 'ss'))) return join(dir, 'ss');
  }
  throw new Error('ss not on PATH');
}

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe.skipIf(skip)('polls run only when the kernel can add something', () => {
  it('runs no ss while every socket is read, and polls again once one stops reading', async () => {
    // The real ss behind a wrapper on PATH that counts its runs.
    const dir = mkdtempSync(join(tmpdir(), 'socklife-ss-'));
    const runs = join(dir, 'runs');
    writeFileSync(join(dir, 'ss'), `#!/bin/sh\necho "run $*" >> '${runs}'\nexec '${realSs()}' "$@"\n`, { mode: 0o755 });
    const path = process.env.PATH;
    process.env.PATH = `${dir}${delimiter}${path ?? ''}`;
    cleanups.push(() => {
      process.env.PATH = path;
      rmSync(dir, { recursive: true, force: true });
    });
    const count = (): number => (existsSync(runs) ? readFileSync(runs, 'utf8').split('\n').filter(Boolean).length : 0);

    const telemetry = createTelemetry();
    // The host's TIME_WAIT count (other tests churn connections) must not open the TIME_WAIT detector's query.
    const handle: SocklifeHandle = instrument({
      tracerProvider: telemetry.tracerProvider,
      meterProvider: telemetry.meterProvider,
      pollIntervalMs: 100,
      source: 'ss',
      timeWaitThreshold: 10_000_000,
    });
    cleanups.push(async () => {
      handle.stop();
      await telemetry.shutdown();
    });
    await sleep(300);
    expect(count()).toBe(1); // the probe at start

    // An idle keep-alive connection whose both ends are read: nothing for the kernel to add.
    const server = http.createServer((_req, res) => res.end('ok'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const agent = new http.Agent({ keepAlive: true });
    cleanups.push(() => {
      agent.destroy();
      server.close();
    });
    const response = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http.get({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, agent }, resolve).on('error', reject),
    );
    response.resume();
    await once(response, 'end');
    await sleep(700);
    expect(count(), readFileSync(runs, 'utf8')).toBe(1);

    // A server that never reads its socket: a FIN could hide in the kernel, so polls start again.
    const silent = net.createServer(() => {});
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const client = net.connect((silent.address() as net.AddressInfo).port, '127.0.0.1');
    client.resume();
    cleanups.push(() => {
      client.destroy();
      silent.close();
    });
    await once(client, 'connect');
    await vi.waitFor(() => expect(count()).toBeGreaterThanOrEqual(3), { timeout: 5000, interval: 20 });
  });
});
