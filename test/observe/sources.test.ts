import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NetstatSource } from '../../src/observe/kernel/netstat-source.js';
import { ProcNetSource } from '../../src/observe/kernel/proc-source.js';
import { KernelSourceError } from '../../src/observe/kernel/source.js';

const dir = mkdtempSync(join(tmpdir(), 'socklife-proc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ProcNetSource', () => {
  it('reads tcp without tcp6 (IPv6 disabled) and filters by state and port', async () => {
    copyFileSync(join(__dirname, '..', 'fixtures', 'proc-net-tcp.txt'), join(dir, 'tcp'));
    const result = await new ProcNetSource(dir).read({ states: ['close_wait', 'listen'], localPorts: [35057] });
    expect(result.skipped).toBe(0);
    expect(result.rows.map((r) => [r.state, r.inode])).toEqual([
      ['listen', 9497],
      ['close_wait', 9501],
    ]);
  });

  it('rejects with a KernelSourceError naming the file when tcp cannot be read', async () => {
    const failure = new ProcNetSource(join(dir, 'missing')).read({ states: ['listen'] });
    await expect(failure).rejects.toBeInstanceOf(KernelSourceError);
    await expect(failure).rejects.toMatchObject({ source: 'proc', message: expect.stringContaining('ENOENT') });
  });
});

describe('NetstatSource', () => {
  it('rejects with a KernelSourceError when netstat is missing', async () => {
    const failure = new NetstatSource('/nonexistent/netstat').read({ states: ['listen'] });
    await expect(failure).rejects.toMatchObject({ name: 'KernelSourceError', source: 'netstat' });
  });
});
