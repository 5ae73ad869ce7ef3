import { KernelSourceError, type KernelSourceName } from './source.js';

interface ExecaResult {
  readonly stdout: string;
}
type ExecaFunction = (
  file: string,
  args: readonly string[],
  options: Record<string, unknown>,
) => Promise<ExecaResult>;

let execaPromise: Promise<ExecaFunction> | undefined;

/** execa is ESM-only: load it on the first poll, so neither build pays for it at start-up. */
function loadExeca(): Promise<ExecaFunction> {
  execaPromise ??= import('execa').then((m) => m.execa as unknown as ExecaFunction);
  return execaPromise;
}

/** Output larger than this is a runaway, not a socket table worth parsing. */
const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;

/**
 * Runs a tool with a fixed argv (never a shell), the C locale and a timeout, and returns
 * its stdout. Any failure becomes a `KernelSourceError` that names the source.
 */
export async function runTool(
  source: KernelSourceName,
  command: string,
  argv: readonly string[],
  timeoutMs: number,
): Promise<string> {
  const execa = await loadExeca();
  try {
    const result = await execa(command, argv, {
      timeout: timeoutMs,
      maxBuffer: MAX_OUTPUT_BYTES,
      stdin: 'ignore',
      stripFinalNewline: false,
      env: { LC_ALL: 'C' },
      shell: false,
    });
    return result.stdout;
  } catch (error) {
    throw new KernelSourceError(source, describeFailure(command, error), { cause: error });
  }
}

function describeFailure(command: string, error: unknown): string {
  if (typeof error !== 'object' || error === null) return `${command} failed`;
  const e = error as { code?: unknown; timedOut?: unknown; exitCode?: unknown; stderr?: unknown; shortMessage?: unknown };
  if (e.code === 'ENOENT') return `${command} not found on PATH`;
  if (e.timedOut === true) return `${command} timed out`;
  const stderr = typeof e.stderr === 'string' ? e.stderr.trim().split('\n')[0] : '';
  if (typeof e.exitCode === 'number') return `${command} exited with ${e.exitCode}${stderr ? `: ${stderr}` : ''}`;
  return typeof e.shortMessage === 'string' ? e.shortMessage : `${command} failed`;
}
