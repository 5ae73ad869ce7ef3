import { execFile, type ExecFileException } from 'node:child_process';
import type { ParseResult } from '../observe/kernel/rows.js';
import { KernelSourceError, type KernelQuery, type KernelSource } from '../observe/kernel/source.js';
import { parseSs } from '../observe/kernel/ss-parser.js';
import { ssArguments } from '../observe/kernel/ss-source.js';

/** Longest an `ss` run may take; the table of a busy host dumps in well under a second. */
export const SS_TIMEOUT_MS = 10_000;
/** Output larger than this is a runaway, not a socket table (as in run-tool.ts). */
const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;

/**
 * `ss` for the command line: the argv of ssArguments() (fixed words and validated numbers,
 * no shell), the C locale, a timeout that ends in SIGKILL, and parseSs, through
 * node:child_process: a one-shot command needs none of the library's poll machinery.
 */
export class CliSsSource implements KernelSource {
  readonly name = 'ss' as const;

  constructor(
    private readonly command = 'ss',
    private readonly timeoutMs = SS_TIMEOUT_MS,
  ) {}

  read(query: KernelQuery): Promise<ParseResult> {
    const states = new Set(query.states);
    const impliedState = states.size === 1 ? query.states[0] : undefined;
    return new Promise((resolve, reject) => {
      execFile(
        this.command,
        ssArguments(query),
        {
          encoding: 'utf8',
          timeout: this.timeoutMs,
          killSignal: 'SIGKILL',
          maxBuffer: MAX_OUTPUT_BYTES,
          env: { ...process.env, LC_ALL: 'C' },
          shell: false,
          windowsHide: true,
        },
        (error, stdout, stderr) => {
          if (error === null) {
            resolve(parseSs(stdout, impliedState === undefined ? {} : { impliedState }));
            return;
          }
          reject(new KernelSourceError(this.name, describeFailure(this.command, this.timeoutMs, error, stderr), { cause: error }));
        },
      );
    });
  }
}

function describeFailure(command: string, timeoutMs: number, error: ExecFileException, stderr: string): string {
  if (error.code === 'ENOENT') return `${command} not found on PATH`;
  if (error.killed === true) return `${command} timed out after ${timeoutMs} ms`;
  const first = stderr.trim().split('\n')[0] ?? '';
  if (typeof error.code === 'number') return `${command} exited with ${error.code}${first ? `: ${first}` : ''}`;
  return `${command} failed: ${error.message}`;
}
