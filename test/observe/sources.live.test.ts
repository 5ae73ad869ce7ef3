import { spawn, type ChildProcess } from 'node:child_process';
import { readlink } from 'node:fs/promises';
import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi, type TestContext } from 'vitest';
import { normalizeAddress } from '../../src/observe/kernel/address.js';
import { NetstatSource } from '../../src/observe/kernel/netstat-source.js';
import { ProcNetSource } from '../../src/observe/kernel/proc-source.js';
import type { Endpoint, KernelSocketRow } from '../../src/observe/kernel/rows.js';
import type { KernelQuery, KernelSource } from '../../src/observe/kernel/source.js';
import { SsSource } from '../../src/observe/kernel/ss-source.js';
import type { TcpState } from '../../src/tcp-states.js';
import { canUseNetns, createNetns, type Netns } from '../harness/netns.js';
import { missingTool, skipWithReason } from '../support/requirements.js';

// Real sockets in this process, read back through each kernel source. Linux only (ss, /proc, net-tools);
// a missing tool skips its source here and fails under CI.

const notLinux = process.platform === 'linux' ? undefined : `needs Linux (this is ${process.platform})`;
const SOURCES: ReadonlyArray<{ source: KernelSource; unavailable: string | undefined }> = [
  { source: new SsSource(), unavailable: notLinux ?? missingTool('ss') },
  { source: new ProcNetSource(), unavailable: notLinux },
  { source: new NetstatSource(), unavailable: notLinux ?? missingTool('netstat', ['--version']) },
];

/** The socket inode behind a Node handle: /proc/self/fd/N links to `socket:[INODE]`. */
async function inodeOf(handleOwner: net.Socket | net.Server): Promise<number> {
  const fd = (handleOwner as unknown as { _handle: { fd: number } })._handle.fd;
  const m = /^socket:\[(\d+)\]$/.exec(await readlink(`/proc/self/fd/${fd}`));
  if (m === null) throw new Error(`fd ${fd} is not a socket`);
  return Number(m[1]);
}

interface Expected {
  readonly label: string;
  readonly state: TcpState;
  readonly local: Endpoint;
  /** Undefined for listeners: each source prints the wildcard peer its own way. */
  readonly peer?: Endpoint;
  readonly inode: number;
}

const opened: Array<net.Socket | net.Server> = [];
const expected: Expected[] = [];

function listen(host: string): Promise<{ server: net.Server; accepted: net.Socket[] }> {
  const accepted: net.Socket[] = [];
  // allowHalfOpen, and never end(): a socket whose peer ended stays in CLOSE_WAIT.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    accepted.push(socket);
    opened.push(socket);
  });
  opened.push(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve({ server, accepted }));
  });
}

async function connect(port: number, host: string, accepted: net.Socket[]): Promise<{ client: net.Socket; server: net.Socket }> {
  const before = accepted.length;
  const client = net.connect({ port, host, allowHalfOpen: true });
  opened.push(client);
  await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject));
  await vi.waitFor(() => expect(accepted.length).toBeGreaterThan(before));
  return { client, server: accepted[before] as net.Socket };
}

function endpoint(address: string | undefined, port: number | undefined): Endpoint {
  return { address: normalizeAddress(address ?? ''), port: port ?? -1 };
}

async function expectSocket(label: string, state: TcpState, socket: net.Socket): Promise<void> {
  expected.push({
    label,
    state,
    local: endpoint(socket.localAddress, socket.localPort),
    peer: endpoint(socket.remoteAddress, socket.remotePort),
    inode: await inodeOf(socket),
  });
}

/** Opens one family's set: LISTEN, an ESTABLISHED pair, and a CLOSE_WAIT / FIN_WAIT_2 pair. */
async function openFamily(family: string, host: string): Promise<void> {
  const { server, accepted } = await listen(host);
  const address = server.address() as net.AddressInfo;
  expected.push({ label: `${family} listener`, state: 'listen', local: endpoint(address.address, address.port), inode: await inodeOf(server) });
  const established = await connect(address.port, host, accepted);
  await expectSocket(`${family} client`, 'established', established.client);
  await expectSocket(`${family} accepted`, 'established', established.server);
  const halfClosed = await connect(address.port, host, accepted);
  const ended = new Promise((resolve) => halfClosed.server.once('end', resolve));
  halfClosed.server.resume(); // read to EOF so 'end' fires; the server still never calls end()
  halfClosed.client.end();
  await ended;
  await expectSocket(`${family} accepted, peer ended`, 'close_wait', halfClosed.server);
  await expectSocket(`${family} client that ended`, 'fin_wait_2', halfClosed.client);
}

beforeAll(async () => {
  if (notLinux !== undefined) return;
  await openFamily('IPv4', '127.0.0.1');
  await openFamily('IPv6', '::1');
  // Dual-stack listener with an IPv4 client: Node and the kernel see the accepted side as ::ffff:127.0.0.1.
  const { server, accepted } = await listen('::');
  const port = (server.address() as net.AddressInfo).port;
  const dual = await connect(port, '127.0.0.1', accepted);
  expect(dual.server.remoteAddress).toBe('::ffff:127.0.0.1');
  expected.push({ label: 'dual-stack listener', state: 'listen', local: { address: '::', port }, inode: await inodeOf(server) });
  await expectSocket('dual-stack accepted IPv4', 'established', dual.server);
  await expectSocket('IPv4 client of dual-stack', 'established', dual.client);
});

afterAll(() => {
  for (const handle of opened) {
    if (handle instanceof net.Server) handle.close();
    else handle.destroy();
  }
});

/** ss prints a dual-stack (v6only=0) wildcard listener as `*`; /proc and netstat as `::`, as Node does. */
function localAddressAs(source: KernelSource, e: Expected): string {
  return source.name === 'ss' && e.state === 'listen' && e.local.address === '::' ? '*' : e.local.address;
}

function matches(row: KernelSocketRow, e: Expected, source: KernelSource): boolean {
  return (
    row.local.address === localAddressAs(source, e) &&
    row.local.port === e.local.port &&
    (e.peer === undefined || (row.peer.address === e.peer.address && row.peer.port === e.peer.port))
  );
}

describe.each(SOURCES)('$source.name source on live sockets', ({ source, unavailable }) => {
  // Skipped with the reason (a failure under CI), not left empty to pass.
  const skip = skipWithReason(unavailable);
  beforeEach((ctx) => {
    if (skip) ctx.skip(unavailable);
  });

  it('finds every socket with its state, addresses, ports and inode, filtered by state and local port', async () => {
    expect(expected).toHaveLength(13); // per family: listener, 2 established, close_wait, fin_wait_2; dual-stack: 3
    for (const e of expected) {
      const query: KernelQuery = { states: [e.state], localPorts: [e.local.port] };
      await vi.waitFor(async () => {
        const { rows } = await source.read(query);
        for (const row of rows) {
          expect(row.state).toBe(e.state);
          expect(row.local.port).toBe(e.local.port);
        }
        const row = rows.find((r) => matches(r, e, source));
        expect(row, `${source.name}: ${e.label}`).toBeDefined();
        expect(row?.inode, `${source.name}: ${e.label} inode`).toBe(e.inode);
        if (e.state === 'listen') expect(row?.peer.port).toBe(0);
      });
    }
  });

  it('filters by several states and peer port', async () => {
    const listeners = expected.filter((e) => e.state === 'listen');
    const query: KernelQuery = { states: ['established', 'fin_wait_2'], peerPorts: listeners.map((e) => e.local.port) };
    const clients = expected.filter((e) => e.label.includes('client'));
    const { rows } = await source.read(query);
    for (const row of rows) {
      expect(query.states).toContain(row.state);
      expect(query.peerPorts).toContain(row.peer.port);
    }
    for (const e of clients)
      expect(
        rows.filter((r) => matches(r, e, source) && r.state === e.state),
        e.label,
      ).toHaveLength(1);
    // The accepted sides have these ports locally, not as peer: the filter must leave them out.
    expect(rows.some((r) => listeners.some((l) => l.local.port === r.local.port))).toBe(false);
  });

  it('returns nothing for a state none of our ports is in', async () => {
    const ports = expected.map((e) => e.local.port);
    const { rows } = await source.read({ states: ['syn_sent', 'last_ack', 'closing'], localPorts: ports, peerPorts: ports });
    expect(rows).toEqual([]);
  });
});

describe('ProcNetSource pointed at /proc/<pid>/net of a process in another network namespace', () => {
  let netns: Netns | undefined;
  let child: ChildProcess | undefined;

  afterAll(async () => {
    child?.kill();
    await netns?.dispose(); // also SIGKILLs whatever is left inside
  });

  it('sees the listener there, which this namespace does not have', async (ctx: TestContext) => {
    const unavailable = await canUseNetns();
    if (unavailable !== undefined) {
      if (process.env.CI) throw new Error(`network namespace test cannot run under CI: ${unavailable}`);
      ctx.skip(unavailable);
    }
    netns = await createNetns();
    const script = "const s = require('net').createServer().listen(0, '127.0.0.1', () => console.log(s.address().port))";
    // `ip netns exec` execs node, so the child's pid is the listener's.
    child = spawn('ip', ['netns', 'exec', netns.name, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<number>((resolve, reject) => {
      child?.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
      child?.once('exit', (code) => reject(new Error(`namespace child exited with ${code}`)));
    });
    const query: KernelQuery = { states: ['listen'], localPorts: [port] };
    const there = await new ProcNetSource(`/proc/${child.pid}/net`).read(query);
    expect(there.rows).toHaveLength(1);
    expect(there.rows[0]?.local).toEqual({ address: '127.0.0.1', port });
    const here = await new ProcNetSource().read(query);
    expect(here.rows.some((r) => r.inode === there.rows[0]?.inode)).toBe(false);
  });
});
