import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DoctorReport, SocketFinding } from '../../src/cli/doctor-report.js';
import type { StatesReport } from '../../src/cli/states.js';
import { ProcNetSource } from '../../src/observe/kernel/proc-source.js';
import { createNetns, type Netns } from '../harness/netns.js';
import { missingTool, skipWithReason } from '../support/requirements.js';
import { assertBuilt, json, runCli, startProgram, type Program } from './support.js';

// A leaking server and its peer inside a private network namespace (a container, as far as
// the CLI can tell), examined from this one: ss here cannot see them, /proc/N/net can.

const unavailable =
  process.platform !== 'linux'
    ? `needs Linux (this is ${process.platform})`
    : process.getuid?.() !== 0
      ? 'network namespaces need root (run the tests as uid 0)'
      : (missingTool('ip', ['-V']) ?? missingTool('nsenter', ['--version']));

describe.skipIf(skipWithReason(unavailable))('socklife on a process in another network namespace', () => {
  let netns: Netns;
  let server: Program;
  let peer: Program;
  let peerPorts: number[];

  beforeAll(async () => {
    assertBuilt();
    netns = await createNetns();
    const inside = ['ip', 'netns', 'exec', netns.name];
    server = await startProgram('half-open-server.cjs', [], inside); // ip execs node: same pid
    peer = await startProgram('peer.cjs', ['--port', String(server.ready.port), '--connections', '3', '--half-close'], inside);
    peerPorts = (peer.ready.localPorts as number[]).slice().sort((a, b) => a - b);
    await vi.waitFor(
      async () => {
        const { rows } = await new ProcNetSource(`/proc/${server.pid}/net`).read({ states: ['close_wait'] });
        expect(rows).toHaveLength(3);
      },
      { timeout: 5000, interval: 50 },
    );
  });

  afterAll(async () => {
    await peer?.stop();
    await server?.stop();
    await netns?.dispose();
  });

  it('doctor reads the process\u2019s own /proc/N/net, finds the 3 CLOSE_WAIT, and says their age is unknown and why', async () => {
    const result = await runCli(['doctor', '--pid', String(server.pid), '--json']);
    expect(result.code, result.stderr).toBe(1);
    const report = json<DoctorReport>(result);
    expect(report.process?.netnsRelation).toBe('other');
    expect(report.source).toMatchObject({ table: 'proc', durations: false, backlog: false });
    expect(report.source.notes).toHaveLength(1);
    expect(report.source.notes[0]).toContain(`pid ${server.pid} is in another network namespace`);
    expect(report.source.notes[0]).toContain(`nsenter --target ${server.pid} --net socklife doctor --pid ${server.pid}`);
    const closeWait = report.findings[0] as SocketFinding;
    expect(closeWait.type).toBe('close_wait');
    expect(closeWait.summary).toContain('(age unknown)');
    expect(closeWait.sockets.map((s) => s.peer.port).sort((a, b) => a - b)).toEqual(peerPorts);
    expect(closeWait.sockets.map((s) => s.durationMs)).toEqual([null, null, null]);
  });

  it('the text report says so too', async () => {
    const result = await runCli(['doctor', '--pid', String(server.pid)]);
    expect(result.stdout).toContain('socket ages unknown');
    expect(result.stdout.replace(/\s+/g, ' ')).toContain(`note: pid ${server.pid} is in another network namespace`);
    expect(result.stdout).toMatch(/127\.0\.0\.1:\d+ +127\.0\.0\.1:\d+ +unknown/);
  });

  it('states counts the sockets there', async () => {
    const report = json<StatesReport>(await runCli(['states', '--pid', String(server.pid), '--json']));
    expect(report.counts).toMatchObject({ listen: 1, close_wait: 3 });
  });

  it('run inside the namespace as the note says (nsenter), doctor gets the ages from ss', async () => {
    const result = await runCli(['doctor', '--pid', String(server.pid), '--json', '--close-wait-threshold-ms', '0'], {
      prefix: ['nsenter', `--target=${server.pid}`, '--net'],
    });
    expect(result.code, result.stderr).toBe(1);
    const report = json<DoctorReport>(result);
    expect(report.process?.netnsRelation).toBe('same');
    expect(report.source).toEqual({ table: 'ss', durations: true, backlog: true, notes: [] });
    const closeWait = report.findings[0] as SocketFinding;
    expect(closeWait.sockets.map((s) => s.peer.port).sort((a, b) => a - b)).toEqual(peerPorts);
    for (const s of closeWait.sockets) expect(s.durationMs).toEqual(expect.any(Number));
    expect(report.listeners[0]?.backlog).toBe(511);
  });
});
