import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { missingTool, skipWithReason } from '../support/requirements.js';

// 10,000 concurrent connections to an instrumented server, then all closed: every record goes
// (tcp.connection.count back to 0), and after stop() no timer, handle or child process is left.
// Each end of the connections lives in its own process, each with its open-file limit raised to
// the hard limit; with a hard limit too low for 10,000, fewer connections are used, and said.

const WANTED = 10_000;
/** File descriptors a Node process uses besides the connections. */
const SPARE_FDS = 200;

function hardOpenFileLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const hard = line?.trim().split(/\s+/)[4];
  return hard === undefined || hard === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(hard);
}

const skip = skipWithReason(missingTool('ss'));

describe.skipIf(skip)('10,000 concurrent connections', () => {
  it('all tracked at the peak, none left once closed, nothing left after stop()', async () => {
    const hard = hardOpenFileLimit();
    const n = Math.min(WANTED, hard - SPARE_FDS);
    if (n < WANTED) console.warn(`using ${n} connections, not ${WANTED}: the hard limit on open files is ${hard}`);
    // The soft limit raised to the hard one by the shell that then becomes node (a test's shell, not socklife's).
    const result = await execa(
      '/bin/sh',
      ['-c', 'ulimit -n "$(ulimit -Hn)" && exec "$0" "$@"', process.execPath, join(__dirname, 'programs', 'many-connections.cjs')],
      {
        env: { CONNECTIONS: String(n) },
        reject: false,
        timeout: 170_000,
      },
    );
    expect(result.exitCode, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout.split('\n').at(-1) ?? '{}') as {
      n: number;
      accepted: number;
      peak: number;
      after: number;
      added: string[];
      children: string[];
      connectedMs: number;
      totalMs: number;
    };
    console.log(`${report.n} connections: all connected and counted after ${report.connectedMs} ms, all closed after ${report.totalMs} ms`);
    expect(report.accepted).toBe(n);
    expect(report.peak).toBe(n);
    expect(report.after).toBe(0);
    expect(report.added).toEqual([]);
    expect(report.children).toEqual([]);
  }, 180_000);
});
