/**
 * Proves the harness: each of the 11 TCP states is produced for real in a private network
 * namespace and seen there by plain `ss -tanH` (CLOSED: no row for the former 4-tuple).
 * Needs root, iproute2 and nftables; without them the tests skip (and fail under CI).
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import type { TcpState } from '../../src/tcp-states.js';
import { canUseNetns, listNetns, NETNS_PREFIX, removeStaleNetns, runInNetns } from './netns.js';
import { produceState, type Endpoint, type ProducedState } from './states.js';

let unavailable: string | undefined;
const ourNetns = `${NETNS_PREFIX}${process.pid}-`;

beforeAll(async () => {
  unavailable = await canUseNetns();
  if (unavailable !== undefined && !process.env.CI) {
    console.warn(`[socklife] skipping the TCP state harness tests: ${unavailable}`);
  }
  if (unavailable === undefined) await removeStaleNetns();
});

afterAll(async () => {
  if (unavailable !== undefined) return;
  // Every namespace made here is gone, whether its test passed or not.
  const left = (await listNetns()).filter((name) => name.startsWith(ourNetns));
  expect(left, 'network namespaces left behind').toEqual([]);
});

/** Skips the test when namespaces are unavailable, or fails it with the reason under CI. */
function requireNetns(ctx: TestContext): void {
  if (unavailable === undefined) return;
  if (process.env.CI) throw new Error(`network namespace tests cannot run under CI: ${unavailable}`);
  ctx.skip(unavailable);
}

/** What `ss` prints for an endpoint, written out here independently of the harness. */
function ssEndpoint({ address, port }: Endpoint): string {
  return `${address.includes(':') ? `[${address}]` : address}:${port === 0 ? '*' : port}`;
}

/** `ss -tanH` rows (State, Recv-Q, Send-Q, Local, Peer) with exactly this 4-tuple. */
async function ssRows(s: ProducedState, local: Endpoint, peer: Endpoint): Promise<string[][]> {
  const { stdout } = await runInNetns(s.netns, 'ss', ['-tanH']);
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => cols[3] === ssEndpoint(local) && cols[4] === ssEndpoint(peer));
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** /proc/<pid>/net/tcp{,6} rows' state field for these ports (hex, e.g. `08`). */
async function procStates(s: ProducedState): Promise<string[]> {
  const text = await readFile(`${s.procNetDir}/${s.family === 6 ? 'tcp6' : 'tcp'}`, 'utf8');
  const hexPort = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f[1]?.endsWith(`:${hexPort(s.local.port)}`) && f[2]?.endsWith(`:${hexPort(s.peer.port)}`))
    .map((f) => f[3] ?? '');
}

interface Case {
  readonly state: TcpState;
  readonly ss: string | undefined;
  readonly proc: string | undefined;
  readonly role: 'client' | 'server';
  readonly family?: 6;
}

const CASES: readonly Case[] = [
  { state: 'closed', ss: undefined, proc: undefined, role: 'client' },
  { state: 'listen', ss: 'LISTEN', proc: '0A', role: 'server' },
  { state: 'syn_sent', ss: 'SYN-SENT', proc: '02', role: 'client' },
  { state: 'syn_received', ss: 'SYN-RECV', proc: '03', role: 'server' },
  { state: 'established', ss: 'ESTAB', proc: '01', role: 'client' },
  { state: 'established', ss: 'ESTAB', proc: '01', role: 'client', family: 6 },
  { state: 'fin_wait_1', ss: 'FIN-WAIT-1', proc: '04', role: 'client' },
  { state: 'fin_wait_2', ss: 'FIN-WAIT-2', proc: '05', role: 'client' },
  { state: 'close_wait', ss: 'CLOSE-WAIT', proc: '08', role: 'server' },
  { state: 'close_wait', ss: 'CLOSE-WAIT', proc: '08', role: 'server', family: 6 },
  { state: 'closing', ss: 'CLOSING', proc: '0B', role: 'client' },
  { state: 'last_ack', ss: 'LAST-ACK', proc: '09', role: 'server' },
  { state: 'time_wait', ss: 'TIME-WAIT', proc: '06', role: 'client' },
];

// Every case has its own namespace, so they run side by side.
describe.concurrent('TCP state harness (private network namespace, plain ss)', () => {
  for (const c of CASES) {
    const family = c.family ?? 4;
    const loopback = family === 6 ? '::1' : '127.0.0.1';
    describe(`${c.state.toUpperCase()} over IPv${family}`, () => {
      it(c.ss ? `ss -tanH shows ${c.ss} for the 4-tuple` : 'ss -tanH shows no row for the former 4-tuple', async (ctx) => {
        requireNetns(ctx);
        const s = await produceState(c.state, { family });
        try {
          ctx.expect(s.state).toBe(c.state);
          ctx.expect(s.role).toBe(c.role);
          ctx.expect(s.local.address).toBe(loopback);
          ctx.expect(s.local.port).toBe(c.role === 'server' ? s.ports.server : s.ports.client);
          ctx.expect(s.peer.port).toBe(c.state === 'listen' ? 0 : c.role === 'server' ? s.ports.client : s.ports.server);
          ctx.expect(s.procNetDir).toBe(`/proc/${s.pid}/net`);

          const rows = await ssRows(s, s.local, s.peer);
          if (c.ss === undefined) {
            ctx.expect(rows).toEqual([]);
            ctx.expect(await ssRows(s, s.peer, s.local)).toEqual([]);
            ctx.expect(await procStates(s)).toEqual([]);
          } else {
            ctx.expect(rows.map((cols) => cols[0])).toEqual([c.ss]);
            ctx.expect(await procStates(s)).toEqual([c.proc]);
            // readTable() (ss -tanieoH) shows the same row, with its details.
            const row = new RegExp(`^${c.ss}\\s+\\d+\\s+\\d+\\s+${escape(ssEndpoint(s.local))}\\s+${escape(ssEndpoint(s.peer))}\\s`, 'm');
            ctx.expect(await s.readTable()).toMatch(row);
          }
        } finally {
          await s.dispose();
        }
        ctx.expect(await listNetns()).not.toContain(s.netns);
      });
    });
  }
});

// Alone (not concurrent), so that no other test creates namespaces meanwhile.
describe('TCP state harness cleanup', () => {
  it('deletes the namespace when producing a state fails', async (ctx) => {
    requireNetns(ctx);
    const before = (await listNetns()).filter((name) => name.startsWith(ourNetns));
    // A port the client cannot bind (the server's own) makes the factory fail.
    await ctx.expect(produceState('established', { ports: { server: 20000, client: 20000 }, timeoutMs: 3000 })).rejects.toThrow(/state-factory/);
    const after = (await listNetns()).filter((name) => name.startsWith(ourNetns));
    ctx.expect(after.filter((name) => !before.includes(name))).toEqual([]);
  });
});
