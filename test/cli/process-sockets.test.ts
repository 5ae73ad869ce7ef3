import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readTable } from '../../src/cli/kernel-table.js';
import { readProcessSockets, TargetError } from '../../src/cli/process-sockets.js';
import { KernelSourceError, type KernelSource } from '../../src/observe/kernel/source.js';

// The I/O edges on files laid out like /proc; the real /proc is exercised by the live tests.

const root = mkdtempSync(join(tmpdir(), 'socklife-cli-proc-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function fakeProcess(procRoot: string, pid: number, links: Record<string, string>, netns: string | undefined, ownNetns: string): void {
  mkdirSync(join(procRoot, String(pid), 'fd'), { recursive: true });
  for (const [fd, target] of Object.entries(links)) symlinkSync(target, join(procRoot, String(pid), 'fd', fd));
  writeFileSync(join(procRoot, String(pid), 'comm'), 'node\n');
  mkdirSync(join(procRoot, String(pid), 'ns'), { recursive: true });
  if (netns !== undefined) symlinkSync(netns, join(procRoot, String(pid), 'ns', 'net'));
  mkdirSync(join(procRoot, 'self', 'ns'), { recursive: true });
  symlinkSync(ownNetns, join(procRoot, 'self', 'ns', 'net'));
}

describe('readProcessSockets', () => {
  it('keeps the socket inodes among the descriptors and compares network namespaces', async () => {
    const procRoot = join(root, 'same');
    fakeProcess(
      procRoot,
      4242,
      { '0': '/dev/null', '3': 'socket:[123]', '4': 'pipe:[9]', '5': 'socket:[456]', '6': 'anon_inode:[eventpoll]' },
      'net:[1]',
      'net:[1]',
    );
    const p = await readProcessSockets(4242, procRoot);
    expect([...p.inodes].sort()).toEqual([123, 456]);
    expect(p).toMatchObject({ pid: 4242, name: 'node', netns: 'same', netnsId: 'net:[1]', ownNetnsId: 'net:[1]' });
  });

  it('tells another namespace, and one it cannot read', async () => {
    fakeProcess(join(root, 'other'), 7, { '3': 'socket:[1]' }, 'net:[2]', 'net:[1]');
    expect((await readProcessSockets(7, join(root, 'other'))).netns).toBe('other');
    fakeProcess(join(root, 'unknown'), 7, { '3': 'socket:[1]' }, undefined, 'net:[1]');
    expect((await readProcessSockets(7, join(root, 'unknown'))).netns).toBe('unknown');
  });

  it('says there is no such process', async () => {
    // Above the largest pid Linux can give (PID_MAX_LIMIT, 2^22): no process has it, none ever will.
    const gone = 2 ** 22 + 1;
    const failure = readProcessSockets(gone, join(root, 'same'));
    await expect(failure).rejects.toBeInstanceOf(TargetError);
    await expect(failure).rejects.toThrow(`socklife: no process with pid ${gone}`);
  });
});

describe('readTable', () => {
  const netDir = join(root, 'net');
  mkdirSync(netDir, { recursive: true });
  copyFileSync(join(__dirname, '..', 'fixtures', 'proc-net-tcp.txt'), join(netDir, 'tcp'));
  const failingSs: KernelSource = {
    name: 'ss',
    read: () => Promise.reject(new KernelSourceError('ss', 'ss timed out after 10000 ms')),
  };

  it('falls back from a failing ss to /proc and says what that costs', async () => {
    const reading = await readTable({ netDir, pid: 1, useSs: true, query: { states: ['close_wait'] }, ssSource: failingSs });
    expect(reading.source).toEqual({
      table: 'proc',
      durations: false,
      backlog: false,
      notes: [`ss: ss timed out after 10000 ms; read ${netDir}/tcp and tcp6 instead: socket ages and backlog limits unknown`],
    });
    expect(reading.rows.map((r) => r.inode)).toEqual([9501]);
  });

  it('does not run ss for a target in another namespace, and keeps the reason', async () => {
    const reading = await readTable({ netDir, pid: 1, useSs: false, whyNotSs: 'elsewhere', query: { states: ['listen'] }, ssSource: failingSs });
    expect(reading.source).toMatchObject({ table: 'proc', notes: ['elsewhere'] });
  });

  it('turns an unreadable /proc/N/net into an error about the process', async () => {
    const failure = readTable({ netDir: join(root, 'missing'), pid: 99, useSs: false, query: { states: ['listen'] } });
    await expect(failure).rejects.toBeInstanceOf(TargetError);
    await expect(failure).rejects.toThrow('socklife: no process with pid 99 (it exited)');
  });
});
