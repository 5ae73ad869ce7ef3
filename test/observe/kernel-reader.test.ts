import { describe, expect, it } from 'vitest';
import { KernelReader } from '../../src/observe/kernel/kernel-reader.js';
import type { KernelSocketRow, ParseResult } from '../../src/observe/kernel/rows.js';
import { KernelSourceError, type KernelSource, type KernelSourceName } from '../../src/observe/kernel/source.js';
import { TcpState } from '../../src/tcp-states.js';

const ROW: KernelSocketRow = {
  state: TcpState.Listen,
  recvQ: 0,
  sendQ: 0,
  local: { address: '127.0.0.1', port: 80 },
  peer: { address: '*', port: 0 },
  inode: 1,
};

function source(name: KernelSourceName, read: () => Promise<ParseResult>): KernelSource & { calls: number } {
  const s = {
    name,
    calls: 0,
    read: () => {
      s.calls++;
      return read();
    },
  };
  return s;
}

const transient = (name: KernelSourceName) => () => Promise.reject(new KernelSourceError(name, 'did not finish; killed', { permanent: false }));

describe('KernelReader', () => {
  it('retries a source that may recover at the next poll, and gives it up after MAX_CONSECUTIVE_FAILURES', async () => {
    const ss = source('ss', transient('ss'));
    const proc = source('proc', () => Promise.resolve({ rows: [ROW], skipped: 0 }));
    const reader = new KernelReader([ss, proc]);
    expect(await reader.read({ states: [TcpState.Listen] })).toBeUndefined();
    expect(await reader.read({ states: [TcpState.Listen] })).toBeUndefined();
    expect(await reader.read({ states: [TcpState.Listen] })).toMatchObject({ source: 'proc', rows: [ROW] });
    expect(ss.calls).toBe(3);
  });

  it('for a one-shot read, gives a source up at its first failure and says why', async () => {
    const given: Array<[KernelSourceName, string]> = [];
    const ss = source('ss', transient('ss'));
    const proc = source('proc', () => Promise.resolve({ rows: [ROW], skipped: 0 }));
    const reader = new KernelReader([ss, proc], { maxConsecutiveFailures: 1, onGiveUp: (name, reason) => given.push([name, reason]) });
    expect(await reader.read({ states: [TcpState.Listen] })).toMatchObject({ source: 'proc', rows: [ROW] });
    expect(given).toEqual([['ss', 'ss: did not finish; killed']]);
  });
});
