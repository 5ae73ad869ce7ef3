/**
 * The state × source table: each of the 11 TCP states is produced for real in a private
 * network namespace and read back by every Linux source — ss (socklife's own argv and
 * parser), /proc/net/tcp (the ProcNetSource itself) and net-tools netstat. CLOSED is the
 * absence of the row after the close.
 */
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { normalizeAddress } from '../../src/observe/kernel/address.js';
import { parseNetstatLinux } from '../../src/observe/kernel/netstat-parser.js';
import { netstatArguments } from '../../src/observe/kernel/netstat-source.js';
import { ProcNetSource } from '../../src/observe/kernel/proc-source.js';
import type { KernelSocketRow } from '../../src/observe/kernel/rows.js';
import { filterRows, type KernelQuery } from '../../src/observe/kernel/source.js';
import { parseSs } from '../../src/observe/kernel/ss-parser.js';
import { ssArguments } from '../../src/observe/kernel/ss-source.js';
import { ALL_TCP_STATES, TcpState, type TcpState as State } from '../../src/tcp-states.js';
import { canUseNetns, removeStaleNetns, runInNetns } from '../harness/netns.js';
import { produceState, type ProducedState } from '../harness/states.js';

type SourceName = 'ss' | 'proc' | 'netstat';
const SOURCES: SourceName[] = ['ss', 'proc', 'netstat'];

let unavailable: string | undefined;
beforeAll(async () => {
  unavailable = await canUseNetns();
  if (unavailable === undefined) await removeStaleNetns();
  else if (!process.env.CI) console.warn(`[socklife] skipping the state x source table: ${unavailable}`);
});

const produced = new Map<string, Promise<ProducedState>>();
afterAll(async () => {
  await Promise.all(
    [...produced.values()].map((p) =>
      p.then(
        (s) => s.dispose(),
        () => undefined,
      ),
    ),
  );
});

/** One live connection per state and family, shared by the three sources' tests. */
function stateOnce(state: State, family: 4 | 6): Promise<ProducedState> {
  const key = `${state}/${family}`;
  let p = produced.get(key);
  if (p === undefined) produced.set(key, (p = produceState(state, { family })));
  return p;
}

function requireNetns(ctx: TestContext): void {
  if (unavailable === undefined) return;
  if (process.env.CI) throw new Error(`the state x source table must run under CI: ${unavailable}`);
  ctx.skip(unavailable);
}

async function readRows(source: SourceName, s: ProducedState, query: KernelQuery): Promise<KernelSocketRow[]> {
  switch (source) {
    case 'ss': {
      const out = await runInNetns(s.netns, 'ss', ssArguments(query));
      const distinct = new Set(query.states);
      return parseSs(out.stdout, distinct.size === 1 ? { impliedState: query.states[0] } : {}).rows;
    }
    case 'proc':
      return (await new ProcNetSource(s.procNetDir).read(query)).rows;
    case 'netstat': {
      const out = await runInNetns(s.netns, 'netstat', netstatArguments('linux'));
      return filterRows(parseNetstatLinux(out.stdout), query).rows;
    }
  }
}

function sameTuple(row: KernelSocketRow, s: ProducedState): boolean {
  if (row.local.port !== s.local.port || row.local.address !== normalizeAddress(s.local.address)) return false;
  // A listener's peer is a wildcard, printed differently by each tool.
  return s.state === TcpState.Listen || (row.peer.port === s.peer.port && row.peer.address === normalizeAddress(s.peer.address));
}

describe.each(SOURCES)('source %s', (source) => {
  it.concurrent.for(ALL_TCP_STATES)('reads %s', async (state, ctx) => {
    requireNetns(ctx);
    const s = await stateOnce(state, 4);
    if (state === TcpState.Closed) {
      const rows = await readRows(source, s, { states: ALL_TCP_STATES.filter((x) => x !== TcpState.Closed) });
      expect(rows.filter((r) => sameTuple(r, s))).toEqual([]);
      return;
    }
    const rows = await readRows(source, s, { states: [state], localPorts: [s.local.port], peerPorts: [] });
    const match = rows.filter((r) => sameTuple(r, s));
    expect(match, `${source} rows for ${state}: ${JSON.stringify(rows)}`).toHaveLength(1);
    expect(match[0]?.state).toBe(state);
    // Sockets with a file descriptor carry their inode; TIME_WAIT and request sockets have none.
    if (source !== 'netstat' && (state === TcpState.TimeWait || state === TcpState.SynReceived)) expect(match[0]?.inode).toBe(0);
  });

  it.concurrent.for([TcpState.Established, TcpState.CloseWait])('reads %s over IPv6 (::1)', async (state, ctx) => {
    requireNetns(ctx);
    const s = await stateOnce(state, 6);
    const rows = await readRows(source, s, { states: [state], localPorts: [s.local.port], peerPorts: [] });
    const match = rows.filter((r) => sameTuple(r, s));
    expect(match).toHaveLength(1);
    expect(match[0]?.local.address).toBe('::1');
  });
});
