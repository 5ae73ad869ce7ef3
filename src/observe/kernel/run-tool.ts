import { KernelSourceError, type KernelSourceName } from './source.js';

interface ExecaResult {
  readonly stdout: string;
}
type ExecaSubprocess = Promise<ExecaResult> & { readonly pid?: number | undefined };
type ExecaFunction = (file: string, args: readonly string[], options: Record<string, unknown>) => ExecaSubprocess;

/** After the timeout, how long the killed tool gets to let its pipes go before the read is abandoned. */
const ABANDON_AFTER_KILL_MS = 500;

let execaPromise: Promise<ExecaFunction> | undefined;

/** execa is ESM-only: load it on the first poll, so neither build pays for it at start-up. */
function loadExeca(): Promise<ExecaFunction> {
  execaPromise ??= import('execa').then((m) => m.execa as unknown as ExecaFunction);
  return execaPromise;
}

/** Output larger than this is a runaway, not a socket table worth parsing. */
const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;

/**
 * Runs a tool with a fixed argv (never a shell), the C locale and a hard deadline, and
 * returns its stdout. Any failure becomes a `KernelSourceError` that names the source.
 *
 * The tool runs in a process group of its own. At the timeout the whole group is killed
 * (a child the tool started may hold its stdout open), and if the pipe still has not closed
 * shortly after (a process in uninterruptible sleep outlives SIGKILL), the read is abandoned:
 * the promise settles whatever the child does.
 */
export async function runTool(
  source: KernelSourceName,
  command: string,
  argv: readonly string[],
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<string> {
  const execa = await loadExeca();
  signal?.throwIfAborted();
  let deadline: NodeJS.Timeout | undefined;
  let abandon: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    const subprocess = execa(command, argv, {
      maxBuffer: MAX_OUTPUT_BYTES,
      stdin: 'ignore',
      stripFinalNewline: false,
      env: { LC_ALL: 'C' },
      shell: false,
      detached: true,
      cleanup: false,
    });
    // Settled later, after the deadline, it must not surface as an unhandled rejection.
    subprocess.catch(() => {});
    const timedOut = new Promise<never>((_, reject) => {
      deadline = setTimeout(() => {
        killGroup(subprocess.pid);
        abandon = setTimeout(() => reject(new ToolTimeout()), ABANDON_AFTER_KILL_MS);
        abandon.unref();
      }, timeoutMs);
      deadline.unref();
      onAbort = () => {
        killGroup(subprocess.pid);
        reject(new ToolAborted());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    const result = await Promise.race([subprocess, timedOut]);
    return result.stdout;
  } catch (error) {
    const code = (error as { code?: unknown } | undefined)?.code;
    const permanent = code === 'ENOENT' || code === 'EACCES';
    throw new KernelSourceError(source, describeFailure(command, error, timeoutMs), { cause: error, permanent });
  } finally {
    clearTimeout(deadline);
    clearTimeout(abandon);
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
  }
}

class ToolTimeout extends Error {}
class ToolAborted extends Error {}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function describeFailure(command: string, error: unknown, timeoutMs: number): string {
  if (error instanceof ToolTimeout) return `${command} did not finish within ${timeoutMs} ms; killed and abandoned`;
  if (error instanceof ToolAborted) return `${command} stopped: socklife is stopping`;
  if (typeof error !== 'object' || error === null) return `${command} failed`;
  const e = error as { code?: unknown; signal?: unknown; timedOut?: unknown; exitCode?: unknown; stderr?: unknown; shortMessage?: unknown };
  if (e.code === 'ENOENT') return `${command} not found on PATH`;
  if (e.timedOut === true || e.signal === 'SIGKILL') return `${command} did not finish within ${timeoutMs} ms; killed`;
  const stderr = typeof e.stderr === 'string' ? e.stderr.trim().split('\n')[0] : '';
  if (typeof e.exitCode === 'number') return `${command} exited with ${e.exitCode}${stderr ? `: ${stderr}` : ''}`;
  return typeof e.shortMessage === 'string' ? e.shortMessage : `${command} failed`;
}
