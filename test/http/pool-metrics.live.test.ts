import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import type { DataPoint, Histogram } from '@opentelemetry/sdk-metrics';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { instrumentedWithServer, type InstrumentedWithServer } from '../support/instrumented-with-server.js';
import { waitFor, type Telemetry } from '../support/telemetry.js';

let telemetry: Telemetry;
let ports: number[];
let fixture: InstrumentedWithServer;

beforeEach(async () => {
  // The server keeps idle connections for a minute: the pools' own counts hold still.
  ({ telemetry, ports } = fixture = await instrumentedWithServer('idle-close-server.cjs', { IDLE_MS: '60000', SLOW_MS: '400' }));
});

afterEach(async () => {
  await fixture.stop();
});

/** `http.client.open_connections` towards `port`: its active and idle values. */
async function openConnections(port: number): Promise<{ active: number; idle: number }> {
  const metric = await telemetry.metric('http.client.open_connections');
  const points = (metric?.dataPoints ?? []) as Array<DataPoint<number>>;
  const value = (state: string) =>
    points.find(
      (p) => p.attributes['server.port'] === port && p.attributes['http.connection.state'] === state && p.attributes['server.address'] === '127.0.0.1',
    )?.value ?? 0;
  return { active: value('active'), idle: value('idle') };
}

/** Waits until `open` towards `port` equals `expected` (the metric read at each try), bounded. */
async function untilOpen(port: number, expected: { active: number; idle: number }, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  let last = await openConnections(port);
  while (last.active !== expected.active || last.idle !== expected.idle) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    last = await openConnections(port);
  }
}

function count(sockets: NodeJS.ReadOnlyDict<unknown[]>): number {
  return Object.values(sockets).reduce((n, list) => n + (list?.length ?? 0), 0);
}

/** This process's ESTABLISHED sockets towards `port`, as the kernel lists them. */
function establishedTowards(port: number): number {
  const remote = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .filter((row) => {
      const fields = row.trim().split(/\s+/);
      return fields[2]?.endsWith(remote) === true && fields[3] === '01';
    }).length;
}

describe('the HTTP client pool metrics', () => {
  it('http.Agent: open connections, active then idle, as agent.sockets and agent.freeSockets count them', async () => {
    const port = ports[0] as number;
    const agent = new http.Agent({ keepAlive: true });
    const responses: Array<Promise<void>> = [];
    const assigned: Array<Promise<void>> = [];
    for (let i = 0; i < 3; i++) {
      const req = http.get({ host: '127.0.0.1', port, path: '/slow', agent });
      assigned.push(new Promise((resolve) => req.once('socket', () => resolve())));
      responses.push(new Promise((resolve, reject) => req.on('response', (res) => res.resume().on('end', resolve)).on('error', reject)));
    }
    await Promise.all(assigned);
    expect(count(agent.sockets)).toBe(3);
    expect(await openConnections(port)).toEqual({ active: count(agent.sockets), idle: count(agent.freeSockets) });
    await Promise.all(responses);
    await waitFor(() => (count(agent.freeSockets) === 3 ? true : undefined), 2000, 'the agent to pool its sockets');
    expect(await openConnections(port)).toEqual({ active: count(agent.sockets), idle: 3 });

    // Each closed connection: its duration and its requests, per destination.
    const again = http.get({ host: '127.0.0.1', port, path: '/', agent });
    await new Promise((resolve) => again.on('response', (res) => res.resume().on('end', resolve)));
    const closed = waitFor(() => (count(agent.freeSockets) === 0 && establishedTowards(port) === 0 ? true : undefined), 5000, 'the sockets to close');
    agent.destroy();
    await closed;
    const requests = await telemetry.metric('nodejs.http.client.requests_per_connection');
    const point = (requests?.dataPoints as Array<DataPoint<Histogram>> | undefined)?.find((p) => p.attributes['server.port'] === port);
    expect(point?.value.count).toBe(3);
    expect(point?.value.sum).toBe(4);
    const duration = await telemetry.metric('http.client.connection.duration');
    expect((duration?.dataPoints as Array<DataPoint<Histogram>> | undefined)?.find((p) => p.attributes['server.port'] === port)?.value.count).toBe(3);
    // The pool is empty: its series say 0.
    expect(await openConnections(port)).toEqual({ active: 0, idle: 0 });
  });

  it('fetch (undici): open connections as the kernel counts them', async () => {
    const port = ports[1] as number;
    const url = `http://127.0.0.1:${port}/slow`;
    const fetches = [fetch(url), fetch(url)];
    await waitFor(() => (establishedTowards(port) === 2 ? true : undefined), 2000, 'two connections');
    await untilOpen(port, { active: 2, idle: 0 }, 'two active');
    await Promise.all(fetches.map(async (f) => (await f).text()));
    await untilOpen(port, { active: 0, idle: 2 }, 'two idle');
    expect(establishedTowards(port)).toBe(2);
  });
});
