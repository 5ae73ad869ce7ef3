import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DoctorReport, SocketFinding } from '../../src/cli/doctor-report.js';
import { missingTool, skipWithReason } from '../support/requirements.js';
import { assertBuilt, json, runCli, sleep, socketInodes, ssTable, startProgram, type Program } from './support.js';

// Real, uninstrumented processes on the real kernel, examined by the built CLI:
// a server that never closes what its peer closed, and that peer in another process.

const skip = skipWithReason(process.platform === 'linux' ? missingTool('ss') : `needs Linux (this is ${process.platform})`);
const CONNECTIONS = 3;

describe.skipIf(skip)('socklife doctor on a leaking server and its peer', () => {
  let server: Program;
  let peer: Program;
  let port: number;
  let peerPorts: number[];

  beforeAll(async () => {
    assertBuilt();
    server = await startProgram('half-open-server.cjs');
    port = Number(server.ready.port);
    peer = await startProgram('peer.cjs', ['--port', String(port), '--connections', String(CONNECTIONS), '--half-close']);
    peerPorts = (peer.ready.localPorts as number[]).slice().sort((a, b) => a - b);
    await vi.waitFor(
      async () => {
        const rows = await ssTable();
        expect(rows.filter((r) => r.state === 'close_wait' && r.local.port === port)).toHaveLength(CONNECTIONS);
        expect(rows.filter((r) => r.state === 'fin_wait_2' && r.peer.port === port && peerPorts.includes(r.local.port))).toHaveLength(CONNECTIONS);
      },
      { timeout: 5000, interval: 50 },
    );
    // Past the default 1 s CLOSE_WAIT threshold, which the CLI measures with tcp_info lastack.
    await sleep(1200);
  });

  afterAll(async () => {
    await peer?.stop();
    await server?.stop();
  });

  it('finds the 3 CLOSE_WAIT sockets on the server port, with the peer ports the peer reports, and exits 1', async () => {
    const result = await runCli(['doctor', '--pid', String(server.pid), '--json']);
    expect(result.code, result.stderr).toBe(1);
    const report = json<DoctorReport>(result);
    expect(report).toMatchObject({ command: 'doctor', pid: server.pid, port: null, healthy: false });
    expect(report.process).toMatchObject({ name: 'node', netnsRelation: 'same' });
    expect(report.source).toEqual({ table: 'ss', durations: true, backlog: true, notes: [] });
    expect(report.findings.map((f) => f.type)).toEqual(['close_wait']);
    const closeWait = report.findings[0] as SocketFinding;
    expect(closeWait.count).toBe(CONNECTIONS);
    expect(closeWait.sockets.map((s) => s.peer.port).sort((a, b) => a - b)).toEqual(peerPorts);
    const inodes = socketInodes(server.pid);
    for (const s of closeWait.sockets) {
      expect(s).toMatchObject({ state: 'close_wait', local: { address: '127.0.0.1', port }, peer: { address: '127.0.0.1' }, attributedBy: 'inode' });
      expect(s.unreadBytes).toBe(0); // Node read the data and the FIN into its own buffer; the kernel holds nothing
      expect(s.durationMs).toBeGreaterThanOrEqual(1000);
      expect(s.durationMs).toBeLessThan(30_000);
      expect(inodes.has(s.inode)).toBe(true);
    }
    expect(report.counts).toMatchObject({ listen: 1, close_wait: CONNECTIONS, established: 0, fin_wait_2: 0 });
    expect(report.listeners).toEqual([{ local: { address: '127.0.0.1', port }, inode: expect.any(Number), acceptQueue: 0, backlog: 511, synReceived: 0 }]);
  });

  it('sees the same leak from the peer: 3 FIN_WAIT_2 sockets towards the server port', async () => {
    const result = await runCli(['doctor', '--pid', String(peer.pid), '--json', '--fin-wait-threshold-ms', '1000']);
    expect(result.code, result.stderr).toBe(1);
    const report = json<DoctorReport>(result);
    expect(report.findings.map((f) => f.type)).toEqual(['fin_wait_2']);
    const finWait2 = report.findings[0] as SocketFinding;
    expect(finWait2.sockets.map((s) => s.local.port).sort((a, b) => a - b)).toEqual(peerPorts);
    for (const s of finWait2.sockets) {
      expect(s.peer).toEqual({ address: '127.0.0.1', port });
      expect(s.durationMs).toBeGreaterThanOrEqual(1000);
    }
    expect(report.counts.fin_wait_2).toBe(CONNECTIONS);
  });

  it('counts FIN_WAIT_2 younger than the threshold without calling it a finding', async () => {
    const result = await runCli(['doctor', '--pid', String(peer.pid), '--json', '--fin-wait-threshold-ms', '600000']);
    expect(result.code, result.stderr).toBe(0);
    const report = json<DoctorReport>(result);
    expect(report).toMatchObject({ healthy: true, findings: [] });
    expect(report.counts.fin_wait_2).toBe(CONNECTIONS);
  });

  it('--port P reports both ends of the port, whichever process holds them', async () => {
    const result = await runCli(['doctor', '--port', String(port), '--json', '--fin-wait-threshold-ms', '1000']);
    expect(result.code, result.stderr).toBe(1);
    const report = json<DoctorReport>(result);
    expect(report).toMatchObject({ pid: null, port, process: null });
    const [closeWait, finWait2] = report.findings as SocketFinding[];
    expect(closeWait?.type).toBe('close_wait');
    expect(closeWait?.sockets.map((s) => s.peer.port).sort((a, b) => a - b)).toEqual(peerPorts);
    expect(closeWait?.sockets.every((s) => s.local.port === port && s.attributedBy === 'port')).toBe(true);
    expect(finWait2?.type).toBe('fin_wait_2');
    // An orphan an earlier test left in FIN_WAIT_2 towards this port number is on the port too,
    // and reported: the peer's own sockets are all there, and nothing off the port.
    const finWait2Ports = finWait2?.sockets.map((s) => s.local.port) ?? [];
    expect(finWait2Ports.filter((p) => peerPorts.includes(p)).sort((a, b) => a - b)).toEqual(peerPorts);
    expect(finWait2?.sockets.every((s) => s.peer.port === port)).toBe(true);
  });

  it('--pid with --port keeps the process\u2019s sockets on that port', async () => {
    const onPort = json<DoctorReport>(await runCli(['doctor', '--pid', String(server.pid), '--port', String(peerPorts[0]), '--json']));
    expect(onPort.counts.close_wait).toBe(1);
    expect((onPort.findings[0] as SocketFinding).sockets.map((s) => s.peer.port)).toEqual([peerPorts[0]]);
  });

  it('prints a text report that names the state, the peers and the age, with no escape codes on a pipe', async () => {
    const result = await runCli(['doctor', '--pid', String(server.pid)]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`socklife doctor: pid ${server.pid} (node)`);
    expect(result.stdout).toContain('3 sockets in CLOSE_WAIT for at least 1.0 s');
    for (const p of peerPorts) expect(result.stdout).toMatch(new RegExp(`127\\.0\\.0\\.1:${port} +127\\.0\\.0\\.1:${p} +\\d+\\.\\d s +0 bytes`));
    expect(result.stdout).toContain('What to do:');
    expect(result.stdout).toContain('1 finding (exit code 1).');
    expect(result.stdout).not.toContain('\x1b');
    expect(result.stderr).toBe('');
  });

  it('without ss, reads /proc and says that ages and backlog are unknown', async () => {
    const result = await runCli(['doctor', '--pid', String(server.pid), '--json'], { env: { PATH: '/nonexistent' } });
    expect(result.code, result.stderr).toBe(1);
    const report = json<DoctorReport>(result);
    expect(report.source).toMatchObject({ table: 'proc', durations: false, backlog: false });
    expect(report.source.notes).toEqual([expect.stringMatching(/^ss: ss not found on PATH; read \/proc\/\d+\/net\/tcp and tcp6 instead/)]);
    const closeWait = report.findings[0] as SocketFinding;
    expect(closeWait.sockets.map((s) => s.durationMs)).toEqual([null, null, null]);
    expect(closeWait.sockets.map((s) => s.peer.port).sort((a, b) => a - b)).toEqual(peerPorts);
    expect(report.listeners[0]?.backlog).toBeNull();
  });
});

describe.skipIf(skip)('socklife doctor on a server that never reads', () => {
  let server: Program;
  let peer: Program;

  beforeAll(async () => {
    assertBuilt();
    server = await startProgram('half-open-server.cjs', ['--pause-on-connect']);
    peer = await startProgram('peer.cjs', ['--port', String(server.ready.port), '--connections', '2', '--half-close', '--bytes', '5']);
    await vi.waitFor(
      async () => expect((await ssTable()).filter((r) => r.state === 'close_wait' && r.local.port === server.ready.port && r.recvQ === 6)).toHaveLength(2),
      { timeout: 5000, interval: 50 },
    );
  });

  afterAll(async () => {
    await peer?.stop();
    await server?.stop();
  });

  it('counts the bytes left unread, without the FIN that Recv-Q also counts', async () => {
    const report = json<DoctorReport>(await runCli(['doctor', '--pid', String(server.pid), '--json', '--close-wait-threshold-ms', '0']));
    const closeWait = report.findings[0] as SocketFinding;
    expect(closeWait.sockets.map((s) => [s.recvQ, s.unreadBytes])).toEqual([
      [6, 5],
      [6, 5],
    ]);
  });
});

describe.skipIf(skip)('socklife doctor on a healthy process', () => {
  let server: Program;
  let peer: Program;

  beforeAll(async () => {
    assertBuilt();
    server = await startProgram('half-open-server.cjs');
    peer = await startProgram('peer.cjs', ['--port', String(server.ready.port), '--connections', '2']);
  });

  afterAll(async () => {
    await peer?.stop();
    await server?.stop();
  });

  it('exits 0 with no findings, for the server and for its client', async () => {
    const result = await runCli(['doctor', '--pid', String(server.pid), '--json']);
    expect(result.code, result.stderr).toBe(0);
    const report = json<DoctorReport>(result);
    expect(report).toMatchObject({ healthy: true, findings: [] });
    expect(report.counts).toMatchObject({ listen: 1, established: 2, close_wait: 0 });
    const client = await runCli(['doctor', '--pid', String(peer.pid)]);
    expect(client.code).toBe(0);
    expect(client.stdout).toContain('No findings (exit code 0).');
  });
});

describe.skipIf(skip)('socklife doctor on a server whose event loop is stalled', () => {
  let server: Program;
  const clients: net.Socket[] = [];

  beforeAll(async () => {
    assertBuilt();
    server = await startProgram('stalled-server.cjs', ['--backlog', '2', '--stall-ms', '20000']);
    for (let i = 0; i < 5; i++) {
      const socket = net.connect(Number(server.ready.port), '127.0.0.1');
      socket.on('error', () => undefined);
      clients.push(socket);
    }
    // A backlog of 2 holds 3 (the kernel refuses once the queue is over the limit); the rest stay in SYN_SENT.
    await vi.waitFor(async () => expect((await ssTable()).find((r) => r.state === 'listen' && r.local.port === server.ready.port)?.recvQ).toBe(3), {
      timeout: 5000,
      interval: 50,
    });
  });

  afterAll(() => {
    for (const socket of clients) socket.destroy();
    server?.child.kill('SIGKILL'); // its loop is blocked: no handler would run
  });

  it('reports the full accept queue with its backlog and the namespace overflow counters', async () => {
    const result = await runCli(['doctor', '--pid', String(server.pid), '--json']);
    expect(result.code, result.stderr).toBe(1);
    const report = json<DoctorReport>(result);
    expect(report.findings).toEqual([
      expect.objectContaining({ type: 'listen_queue', local: { address: '127.0.0.1', port: server.ready.port }, acceptQueue: 3, backlog: 2 }),
    ]);
    expect(report.findings[0]?.advice).toMatch(/event-loop stalls/);
    expect(report.kernelCounters.listenOverflows).toBeGreaterThan(0);
    expect(report.counts.established).toBe(3); // handshaken, in the queue, not accepted: sockets of the listener's process already
  });
});

describe('socklife doctor errors', () => {
  beforeAll(() => {
    if (process.platform === 'linux') assertBuilt();
  });

  it.skipIf(process.platform !== 'linux')('says there is no such process, and exits 2', async () => {
    const gone = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
    const pid = Number(gone.stdout.trim());
    expect(() => process.kill(pid, 0)).toThrow(); // exited, and not reused yet
    const result = await runCli(['doctor', '--pid', String(pid)]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`socklife: no process with pid ${pid}\n`);
    expect(result.stdout).toBe('');
  });

  it.each([
    [['doctor', '--pid', 'abc'], 'socklife doctor: option --pid must be an integer from 1 to 4194304; got "abc"'],
    [
      ['doctor', '--pid', '1', '--time-wait-threshold', '-1'],
      "socklife doctor: option --time-wait-threshold needs a value: an integer from 1 to 10000000 (write --time-wait-threshold=VALUE for a value that starts with '-')",
    ],
    [['states', '--port', '70000'], 'socklife states: option --port must be an integer from 1 to 65535; got "70000"'],
    [['watch', '--interval-ms', '5'], 'socklife watch: option --interval-ms must be an integer from 100 to 3600000 (milliseconds); got "5"'],
    [['doctor'], 'socklife doctor: give --pid N (a process) or --port P (a port), or both'],
    [['frobnicate'], 'socklife: unknown command "frobnicate"; expected one of doctor, states, watch (or --help, --version)'],
  ])('rejects %j with the option named, and exits 2', async (args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toBe(message);
    expect(result.stdout).toBe('');
  });

  it('prints help and the version with exit code 0', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit codes:');
    const doctorHelp = await runCli(['doctor', '--help']);
    expect(doctorHelp.stdout).toContain('--close-wait-threshold-ms MS');
    expect((await runCli(['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});

describe('socklife doctor on a process it may not read', () => {
  const unavailable =
    process.platform !== 'linux'
      ? `needs Linux (this is ${process.platform})`
      : process.getuid?.() !== 0
        ? 'needs root, to run the CLI as another user (nobody) with setpriv'
        : missingTool('setpriv', ['--version']);
  let target: Program | undefined;

  afterAll(async () => {
    await target?.stop();
  });

  it.skipIf(skipWithReason(unavailable))('exits 2 with a message naming the file, the owner and the way out', async () => {
    assertBuilt();
    target = await startProgram('half-open-server.cjs'); // runs as root
    const result = await runCli(['doctor', '--pid', String(target.pid)], {
      prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'],
    });
    expect(result.code, result.stdout).toBe(2);
    expect(result.stderr).toBe(
      `socklife: permission denied reading /proc/${target.pid}/fd (pid ${target.pid} runs as uid 0, socklife as uid 65534); ` +
        "run socklife as the process's user or as root\n",
    );
  });
});
