import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseSs } from '../../src/observe/kernel/ss-parser.js';
import type { KernelSocketRow } from '../../src/observe/kernel/rows.js';

const ROOT = join(__dirname, '..', '..');
/** The built command, run the way npm's bin link runs it. */
export const CLI = join(ROOT, 'dist', 'cjs', 'cli', 'main.js');
export const PROGRAMS = join(__dirname, 'programs');

/**
 * Live tests run the built CLI (`npm test` builds first). A build older than the sources
 * would test old code, so it is refused with the command that fixes it.
 */
export function assertBuilt(): void {
  let built: number;
  try {
    built = statSync(CLI).mtimeMs;
  } catch {
    throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
  }
  // The CLI runs the detectors too: a change to any of these needs a build.
  for (const dir of ['src/cli', 'src/observe/kernel', 'src/detect']) {
    for (const file of readdirSync(join(ROOT, dir))) {
      if (statSync(join(ROOT, dir, file)).mtimeMs > built) {
        throw new Error(`${dir}/${file} is newer than ${CLI}: run \`npm run build\` first (npm test does)`);
      }
    }
  }
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Words before `node CLI ...`: `setpriv ...`, `nsenter ...`. */
  readonly prefix?: readonly string[];
  readonly timeoutMs?: number;
}

/** Runs `node dist/cjs/cli/main.js ...args` with pipes (so never a TTY) and a timeout. */
export function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  const argv = [...(options.prefix ?? []), process.execPath, CLI, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), {
      cwd: '/',
      env: options.env ?? { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 20_000,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** JSON on stdout, or a failure that shows what came instead. */
export function json<T>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${result.code}):\n${result.stdout}\nstderr:\n${result.stderr}`);
  }
}

export interface Program {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The JSON line the program printed when ready. */
  readonly ready: Record<string, unknown>;
  stop(): Promise<void>;
}

/**
 * Starts a program from test/cli/programs (optionally behind a prefix such as
 * `ip netns exec NAME`, which execs node: the child's pid is the program's) and waits for
 * its JSON ready line.
 */
export async function startProgram(script: string, args: readonly string[] = [], prefix: readonly string[] = []): Promise<Program> {
  const argv = [...prefix, process.execPath, join(PROGRAMS, script), ...args];
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  child.stdin?.on('error', () => undefined);
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} printed nothing within 10 s; stderr: ${stderr}`)), 10_000);
    lines.once('line', (line: string) => {
      clearTimeout(timer);
      resolve(JSON.parse(line) as Record<string, unknown>);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code}; stderr: ${stderr}`));
    });
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.stdin?.end();
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  };
  return { child, pid: Number(ready.pid), ready, stop };
}

/** Socket inodes of a process, read here independently of the CLI. */
export function socketInodes(pid: number): Set<number> {
  const inodes = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** Every TCP socket of this network namespace, as `ss -tanieoH` shows it. */
export function ssTable(): Promise<KernelSocketRow[]> {
  return new Promise((resolve, reject) => {
    execFile('ss', ['-tanieoH'], { timeout: 10_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C' } }, (error, stdout) => {
      if (error) reject(error);
      else resolve(parseSs(stdout).rows);
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
