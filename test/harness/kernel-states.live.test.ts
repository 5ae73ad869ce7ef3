/**
 * Proves the kernel state recorder: real Node sockets in this process, on 127.0.0.1, ::1 and
 * a dual-stack listener (`::`, reached over 127.0.0.1), and the exact state sequence the
 * kernel reports on `sock:inet_sock_set_state` for each side of each connection.
 *
 * What the tracepoint shows (and so what is asserted): no TIME_WAIT (FIN_WAIT2 → CLOSE is
 * where the TIME_WAIT mini-socket takes over), no NEW_SYN_RECV (the request socket is not
 * reported; the accepted socket goes LISTEN → SYN_RECV → ESTABLISHED).
 *
 * Needs root, bpftrace and tracefs; without them the tests skip (and fail under CI).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { access } from 'node:fs/promises';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { canTraceKernel, isSubsequence, netnsInode, startKernelStateRecorder, type Endpoint, type KernelStateRecorder } from './kernel-states.js';

let unavailable: string | undefined;
let recorder: KernelStateRecorder | undefined;

beforeAll(async () => {
  unavailable = await canTraceKernel();
  if (unavailable !== undefined) {
    if (!process.env.CI) console.warn(`[socklife] skipping the kernel state recorder tests: ${unavailable}`);
    return;
  }
  recorder = await startKernelStateRecorder();
});

afterAll(async () => {
  const lost = recorder?.lostEvents() ?? 0;
  await recorder?.stop();
  expect(lost, 'events bpftrace lost').toBe(0);
});

/** Skips the test when bpftrace cannot run here, or fails it with the reason under CI. */
function requireKernelTrace(ctx: TestContext): KernelStateRecorder {
  if (unavailable !== undefined) {
    if (process.env.CI) throw new Error(`kernel state recorder tests cannot run under CI: ${unavailable}`);
    ctx.skip(unavailable);
  }
  if (recorder === undefined) throw new Error('the kernel state recorder did not start');
  return recorder;
}

const CLOSES_FIRST = ['syn_sent', 'established', 'fin_wait_1', 'fin_wait_2', 'closed'];
const CLOSES_SECOND = ['syn_sent', 'established', 'close_wait', 'last_ack', 'closed'];
const ACCEPTED_CLOSES_FIRST = ['syn_received', 'established', 'fin_wait_1', 'fin_wait_2', 'closed'];
const ACCEPTED_CLOSES_SECOND = ['syn_received', 'established', 'close_wait', 'last_ack', 'closed'];

const endsClosed = (timeline: string[]) => timeline[timeline.length - 1] === 'closed';

interface Connection {
  readonly client: Endpoint;
  readonly server: Endpoint;
  readonly listener: Endpoint;
  /** The wildcard a listener on this address reports as its peer. */
  readonly wildcard: Endpoint;
}

function local(socket: net.Socket): Endpoint {
  return { address: socket.localAddress!, port: socket.localPort! };
}

function remote(socket: net.Socket): Endpoint {
  return { address: socket.remoteAddress!, port: socket.remotePort! };
}

/**
 * Listens on `listen` (port 0), connects from `connect`, lets `onServer`/`onClient` drive the
 * close, and resolves once both sockets and the listener are closed.
 */
async function runConnection(
  listen: string,
  connect: string,
  onServer: (socket: net.Socket) => void,
  onClient: (socket: net.Socket) => void,
): Promise<Connection> {
  const server = net.createServer();
  let serverSocket: net.Socket | undefined;
  let serverEnd: Endpoint | undefined;
  const serverClosed = new Promise<void>((resolve) => {
    server.once('connection', (socket: net.Socket) => {
      serverSocket = socket;
      serverEnd = local(socket);
      socket.on('error', () => {});
      socket.on('close', () => resolve());
      onServer(socket);
    });
  });
  server.listen(0, listen);
  await once(server, 'listening');
  const { address, port } = server.address() as net.AddressInfo;
  const listener = { address, port };

  const client = net.connect({ host: connect, port });
  client.on('error', () => {});
  await once(client, 'connect');
  const clientEnd = local(client);
  const clientPeer = remote(client);
  const clientClosed = once(client, 'close');
  onClient(client);
  await Promise.all([clientClosed, serverClosed]);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  expect(serverSocket).toBeDefined();
  expect(clientPeer.port).toBe(port);
  return {
    client: clientEnd,
    server: serverEnd!,
    listener,
    wildcard: { address: address.includes(':') ? '::' : '0.0.0.0', port: 0 },
  };
}

const HOSTS = [
  { name: 'IPv4', listen: '127.0.0.1', connect: '127.0.0.1' },
  { name: 'IPv6', listen: '::1', connect: '::1' },
  { name: 'dual-stack listener, IPv4 client', listen: '::', connect: '127.0.0.1' },
] as const;

describe.each(HOSTS)('kernel TCP state timelines ($name)', ({ listen, connect }) => {
  it('(a) client ends first: client FIN_WAIT_1/2, server CLOSE_WAIT/LAST_ACK, no TIME_WAIT', async (ctx) => {
    const rec = requireKernelTrace(ctx);
    const c = await runConnection(
      listen,
      connect,
      (socket) => {
        socket.resume(); // allowHalfOpen false: Node ends its side when the FIN arrives
      },
      (socket) => {
        socket.resume();
        socket.end();
      },
    );
    expect(await rec.waitForTimeline(c.client, c.server, endsClosed)).toEqual(CLOSES_FIRST);
    expect(await rec.waitForTimeline(c.server, c.client, endsClosed)).toEqual(ACCEPTED_CLOSES_SECOND);
    expect(await rec.waitForTimeline(c.listener, c.wildcard, endsClosed)).toEqual(['listen', 'closed']);
    // What an observer that only samples may report must fit in the kernel's order.
    expect(isSubsequence(['established', 'fin_wait_2'], rec.timeline(c.client, c.server))).toBe(true);
    expect(isSubsequence(['established', 'time_wait'], rec.timeline(c.client, c.server))).toBe(false);
  });

  it('(b) server ends first: server FIN_WAIT_1/2, client CLOSE_WAIT/LAST_ACK', async (ctx) => {
    const rec = requireKernelTrace(ctx);
    const c = await runConnection(
      listen,
      connect,
      (socket) => {
        socket.resume();
        socket.end();
      },
      (socket) => {
        socket.resume();
      },
    );
    expect(await rec.waitForTimeline(c.client, c.server, endsClosed)).toEqual(CLOSES_SECOND);
    expect(await rec.waitForTimeline(c.server, c.client, endsClosed)).toEqual(ACCEPTED_CLOSES_FIRST);
  });

  it('(c) refused connect: SYN_SENT then CLOSED', async (ctx) => {
    const rec = requireKernelTrace(ctx);
    // A port that was just listened on and is closed now: the kernel answers the SYN with RST.
    const closed = net.createServer();
    closed.listen(0, listen);
    await once(closed, 'listening');
    const { port } = closed.address() as net.AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const client = net.connect({ host: connect, port });
    const [error] = (await once(client, 'error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNREFUSED');
    // Node never learns the local port of a refused connect; the kernel knows it.
    const peer = { address: connect, port };
    await rec.sync();
    const locals = rec.localEndpointsTo(peer);
    expect(locals).toHaveLength(1);
    expect(await rec.waitForTimeline(locals[0]!, peer, endsClosed)).toEqual(['syn_sent', 'closed']);
  });

  it('(d) RST by resetAndDestroy(): both sides go ESTABLISHED → CLOSED', async (ctx) => {
    const rec = requireKernelTrace(ctx);
    const c = await runConnection(
      listen,
      connect,
      (socket) => {
        socket.resume();
      },
      (socket) => {
        socket.resetAndDestroy();
      },
    );
    expect(await rec.waitForTimeline(c.client, c.server, endsClosed)).toEqual(['syn_sent', 'established', 'closed']);
    expect(await rec.waitForTimeline(c.server, c.client, endsClosed)).toEqual(['syn_received', 'established', 'closed']);
  });
});

describe('kernel state recorder', () => {
  it('attaches within a few seconds and reads this process clock', async (ctx) => {
    const rec = requireKernelTrace(ctx);
    expect(rec.attachMs).toBeLessThan(15_000);
    const before = process.hrtime.bigint();
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rec.sync();
    const [listenAt] = rec.transitionsFor({ address: '127.0.0.1', port }, { address: '0.0.0.0', port: 0 });
    // bpftrace's nsecs and process.hrtime are both CLOCK_MONOTONIC.
    expect(listenAt?.timeNs).toBeGreaterThanOrEqual(before);
    expect(listenAt?.timeNs).toBeLessThanOrEqual(process.hrtime.bigint());
  });

  it("records only this process's sockets by default, and the processes asked for", async (ctx) => {
    const rec = requireKernelTrace(ctx);
    // Another process: reads a port on stdin, connects, prints its local port, ends first.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `process.stdin.once('data', (port) => {
           const c = require('net').connect(Number(port), '127.0.0.1', () => {
             console.log(c.localPort); c.end();
           });
           c.resume(); c.on('close', () => process.exit(0));
         });`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const exited = once(child, 'exit');
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    // A second recorder for both processes; started before the listener, as it must be
    // to follow the sockets accepted on it.
    const both = await startKernelStateRecorder({ processes: [process.pid, child.pid!] });
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.resume();
    });
    try {
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const serverEnd = { address: '127.0.0.1', port: (server.address() as net.AddressInfo).port };
      child.stdin!.end(`${serverEnd.port}\n`);
      await exited;
      const childEnd = { address: '127.0.0.1', port: Number(out.trim()) };
      expect(childEnd.port).toBeGreaterThan(0);
      const accepted = ['syn_received', 'established', 'close_wait', 'last_ack', 'closed'];
      // This process's recorder: the accepted socket (ours), not the other process's client,
      // although on loopback some of the client's changes run in this process (softirq).
      expect(await rec.waitForTimeline(serverEnd, childEnd, endsClosed)).toEqual(accepted);
      await rec.sync();
      expect(rec.timeline(childEnd, serverEnd)).toEqual([]);
      // Asked for both processes: both sides.
      expect(await both.waitForTimeline(childEnd, serverEnd, endsClosed)).toEqual(CLOSES_FIRST);
      expect(await both.waitForTimeline(serverEnd, childEnd, endsClosed)).toEqual(accepted);
    } finally {
      child.kill();
      server.close();
      await both.stop();
    }
  });

  it('reads and filters on the network namespace when asked (kernel BTF)', async (ctx) => {
    const rec = requireKernelTrace(ctx);
    expect(rec.netns).toBeUndefined();
    await rec.sync();
    expect(new Set(rec.transitions().map((t) => t.netns))).toEqual(new Set([0]));
    try {
      await access('/sys/kernel/btf/vmlinux');
    } catch {
      if (process.env.CI) throw new Error('no kernel BTF (/sys/kernel/btf/vmlinux) under CI');
      ctx.skip('no kernel BTF: the namespace cannot be read');
    }
    const own = await netnsInode();
    const inNetns = await startKernelStateRecorder({ netns: own });
    try {
      expect(inNetns.netns).toBe(own);
      const c = await runConnection(
        '127.0.0.1',
        '127.0.0.1',
        (s) => s.resume(),
        (s) => s.resume().end(),
      );
      expect(await inNetns.waitForTimeline(c.client, c.server, endsClosed)).toEqual(CLOSES_FIRST);
      expect(new Set(inNetns.transitions().map((t) => t.netns))).toEqual(new Set([own]));
    } finally {
      await inNetns.stop();
    }
  });
});
