// Counting a process's user-space instructions (figure 8) with valgrind: `cachegrind` (no
// cache simulation) counts every instruction the process runs, in every thread; the count is
// read from its output file once the process has exited. With BENCH_CALLGRIND=<dir>,
// `callgrind` runs instead and keeps its output in <dir>, to say which functions the
// instructions are in (callgrind_annotate <file>); its total is read the same way.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export async function hasValgrind() {
  try {
    const { stdout } = await execFileAsync('valgrind', ['--version']);
    return stdout.trim();
  } catch {
    return undefined;
  }
}

export class InstructionCounter {
  constructor() {
    this.callgrindDir = process.env.BENCH_CALLGRIND || undefined;
    if (this.callgrindDir) mkdirSync(this.callgrindDir, { recursive: true });
    this.tmp = mkdtempSync(join(os.tmpdir(), 'socklife-instructions-'));
  }

  get tool() {
    return this.callgrindDir ? 'callgrind' : 'cachegrind';
  }

  /** The command a measured process runs under, and the file its count goes to. */
  wrap(label) {
    const safe = label.replace(/[^\w.+-]/g, '_');
    if (this.callgrindDir) {
      const file = join(this.callgrindDir, `callgrind.out.${safe}`);
      return { file, log: `${file}.log`, wrap: ['valgrind', `--log-file=${file}.log`, '--tool=callgrind', `--callgrind-out-file=${file}`] };
    }
    const file = join(this.tmp, `cachegrind.out.${safe}`);
    const log = `${file}.log`;
    return { file, log, wrap: ['valgrind', `--log-file=${log}`, '--tool=cachegrind', '--cache-sim=no', '--branch-sim=no', `--cachegrind-out-file=${file}`] };
  }

  /** The end of valgrind's own log for a run (to say why it failed). */
  logTail(log) {
    try {
      return readFileSync(log, 'utf8').split('\n').slice(-15).join('\n');
    } catch {
      return '(no valgrind log)';
    }
  }

  /** The instructions counted in `file` (written when the process exited). */
  read(file) {
    const text = readFileSync(file, 'utf8');
    const m = /^(?:summary|totals):\s+(\d+)/m.exec(text);
    if (m === null) throw new Error(`no instruction total in ${file}`);
    if (!this.callgrindDir) {
      rmSync(file, { force: true });
      rmSync(`${file}.log`, { force: true });
    }
    return Number(m[1]);
  }

  close() {
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
