import { spawn } from 'node:child_process';
import { KernelSourceError, type KernelSourceName } from './source.js';

/** After the timeout, how long the killed tool gets to let its pipes go before the read is abandoned. */
const ABANDON_AFTER_KILL_MS = 500;

/** Output larger than this is a runaway, not a socket table worth parsing: it is never held in full. */
export const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;
/** Only the first line of stderr is ever said. */
const MAX_STDERR_BYTES = 4096;

/** Why a run failed, as `describeFailure` says it. */
type Failure =
  | { readonly kind: 'spawn'; readonly code: string | undefined }
  | { readonly kind: 'exit'; readonly code: number | null; readonly signal: NodeJS.Signals | null; readonly stderr: string }
  | { readonly kind: 'timeout'; readonly abandoned: boolean }
  | { readonly kind: 'runaway' }
  | { readonly kind: 'aborted' };

/**
 * Runs a tool with a fixed argv (never a shell), the C locale and a hard deadline, and
 * returns its stdout. Any failure becomes a `KernelSourceError` that names the source.
 *
 * The tool runs in a process group of its own. At the timeout the whole group is killed
 * (a child the tool started may hold its stdout open), and if the pipe still has not closed
 * shortly after (a process in uninterruptible sleep outlives SIGKILL), the read is abandoned:
 * the promise settles whatever the child does. A read that reached its deadline is a failure
 * even when the pipe then closed cleanly. Output beyond `MAX_OUTPUT_BYTES` stops the run at
 * once. Whatever is left of the group after any failure is killed, and so is every tool still
 * running when the process exits. The child never keeps the process alive, unless
 * `holdProcess` says so: a one-shot command (the CLI) has nothing else to wait for it.
 */
export function runTool(
  source: KernelSourceName,
  command: string,
  argv: readonly string[],
  timeoutMs: number,
  signal?: AbortSignal,
  holdProcess = false,
): Promise<string> {
  signal?.throwIfAborted();
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let stderr = '';
    let settled = false;
    let deadlineReached = false;
    let abandon: NodeJS.Timeout | undefined;
    const child = spawn(command, [...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
      shell: false,
      detached: true,
      windowsHide: true,
    });
    const pid = child.pid;
    track(pid);

    const settle = (failure: Failure | undefined, stdout?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clearTimeout(abandon);
      signal?.removeEventListener('abort', onAbort);
      untrack(pid);
      if (failure === undefined) {
        resolve(stdout ?? '');
        return;
      }
      // A child of the tool may still hold the pipe or keep writing (an error exit, a runaway).
      killGroup(pid);
      child.stdout.destroy();
      child.stderr.destroy();
      // Even a one-shot command is not held by a tool it gave up on (one that outlives SIGKILL).
      child.unref();
      const permanent = failure.kind === 'spawn' && (failure.code === 'ENOENT' || failure.code === 'EACCES');
      reject(new KernelSourceError(source, describeFailure(command, failure, timeoutMs), { permanent }));
    };

    const deadline = setTimeout(() => {
      deadlineReached = true;
      killGroup(pid);
      abandon = setTimeout(() => settle({ kind: 'timeout', abandoned: true }), ABANDON_AFTER_KILL_MS);
      abandon.unref();
    }, timeoutMs);
    deadline.unref();
    const onAbort = (): void => settle({ kind: 'aborted' });
    signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_OUTPUT_BYTES) settle({ kind: 'runaway' });
      else chunks.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < MAX_STDERR_BYTES) stderr += chunk.toString('utf8', 0, MAX_STDERR_BYTES - stderr.length);
    });
    child.on('error', (error: NodeJS.ErrnoException) => settle({ kind: 'spawn', code: error.code }));
    // 'close': the tool exited and every pipe of it closed (a child it left may hold them).
    child.on('close', (code: number | null, exitSignal: NodeJS.Signals | null) => {
      // The pipe closed only because the deadline killed the group: what came out is not a reading.
      if (deadlineReached) settle({ kind: 'timeout', abandoned: false });
      else if (code === 0) settle(undefined, Buffer.concat(chunks, bytes).toString('utf8'));
      else settle({ kind: 'exit', code, signal: exitSignal, stderr });
    });
    // A poll never keeps the process alive: its exit kills the tool instead (see `running`).
    if (holdProcess) return;
    child.unref();
    for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void }).unref?.();
  });
}

/**
 * Process groups of the tools running now. The process exiting mid-read (a tool may hang, and
 * it runs detached) kills them: no tool outlives the process that started it. The exit
 * listener is there only while a tool runs.
 */
const running = new Set<number>();

function killRunning(): void {
  for (const pid of running) killGroup(pid);
}

/**
 * Kills every tool running now (each in its own process group, out of reach of a terminal's
 * signals). For a one-shot command ended by a signal, which skips the exit listener.
 */
export function killRunningTools(): void {
  killRunning();
}

function track(pid: number | undefined): void {
  if (pid === undefined) return;
  if (running.size === 0) process.on('exit', killRunning);
  running.add(pid);
}

function untrack(pid: number | undefined): void {
  if (pid === undefined || !running.delete(pid)) return;
  if (running.size === 0) process.off('exit', killRunning);
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function describeFailure(command: string, failure: Failure, timeoutMs: number): string {
  switch (failure.kind) {
    case 'spawn':
      if (failure.code === 'ENOENT') return `${command} not found on PATH`;
      if (failure.code === 'EACCES') return `${command} is not executable (EACCES)`;
      return `${command} could not start${failure.code === undefined ? '' : ` (${failure.code})`}`;
    case 'timeout':
      return `${command} did not finish within ${timeoutMs} ms; killed${failure.abandoned ? ' and abandoned' : ''}`;
    case 'runaway':
      return `${command} printed more than ${MAX_OUTPUT_BYTES / (1024 * 1024)} MiB; killed`;
    case 'aborted':
      return `${command} stopped: socklife is stopping`;
    case 'exit': {
      const first = failure.stderr.trim().split('\n')[0] ?? '';
      const how = failure.code === null ? `was killed by ${failure.signal ?? 'a signal'}` : `exited with ${failure.code}`;
      return `${command} ${how}${first ? `: ${first}` : ''}`;
    }
  }
}
