import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { waitFor } from './telemetry.js';

/**
 * A child process that prints JSON lines (test/programs/*.cjs), started inside a network
 * namespace (`ip netns exec NAME node ...`: ip execs node, so the pid is node's). Every line it
 * prints is kept, parsed; stderr is kept as text. Nothing waits on it without a timeout, and
 * `stop()` ends it: stdin closed (the programs exit on that), then SIGKILL if it is still there.
 */
export class JsonLinesChild {
  readonly lines: Array<Record<string, unknown>> = [];
  private stderrText = '';
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly process: ChildProcess;

  /** `netns` undefined: node runs in this process's own namespace. */
  constructor(netns: string | undefined, nodeArgs: readonly string[], options: { cwd: string; env?: Record<string, string> }) {
    const [command, args] = netns === undefined ? [process.execPath, nodeArgs] : ['ip', ['netns', 'exec', netns, process.execPath, ...nodeArgs]];
    this.process = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.process.on('exit', (code, signal) => (this.exited = { code, signal }));
    this.process.on('error', (error) => (this.stderrText += `spawn failed: ${error.message}\n`));
    this.process.stdin?.on('error', () => {}); // a child that exited: writes to it fail
    this.process.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.stderrText += chunk));
    const reader = createInterface({ input: this.process.stdout as NodeJS.ReadableStream });
    reader.on('line', (line) => {
      if (!line.startsWith('{')) return;
      try {
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        this.stderrText += `unparsable line: ${line.slice(0, 200)}\n`;
      }
    });
  }

  get pid(): number {
    if (this.process.pid === undefined) throw new Error(`child did not start: ${this.stderrText}`);
    return this.process.pid;
  }

  get stderr(): string {
    return this.stderrText;
  }

  /** The first line (from `from` on) that `pick` maps to a value; fails after `timeoutMs`, saying what the child printed to stderr. */
  async waitFor<T>(pick: (line: Record<string, unknown>) => T | undefined, timeoutMs: number, what: string, from = 0): Promise<T> {
    try {
      return await waitFor(
        () => {
          for (let i = from; i < this.lines.length; i++) {
            const value = pick(this.lines[i] as Record<string, unknown>);
            if (value !== undefined) return value;
          }
          if (this.exited !== undefined) throw new Error(`the child exited (${JSON.stringify(this.exited)}) before printing ${what}`);
          return undefined;
        },
        timeoutMs,
        what,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\nchild stderr:\n${this.stderrText.slice(-2000)}`, { cause: error });
    }
  }

  send(line: string): void {
    this.process.stdin?.write(`${line}\n`);
  }

  signal(signal: NodeJS.Signals): void {
    if (this.exited === undefined) process.kill(this.pid, signal);
  }

  /** Closes stdin and waits up to `graceMs` for the child to exit, then kills it. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.exited !== undefined || this.process.pid === undefined) return;
    this.signal('SIGCONT');
    this.process.stdin?.end();
    const exited = new Promise<void>((resolve) => this.process.once('exit', () => resolve()));
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
