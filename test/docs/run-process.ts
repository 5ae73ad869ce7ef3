import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as http from 'node:http';

export interface RunResult {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** stdout and stderr, interleaved as they arrived. */
  readonly output: string;
  readonly timedOut: boolean;
  /** The `until` text was printed (and the process was then ended). */
  readonly untilSeen: boolean;
  /** Processes it started were still running a second after it exited (they were killed). */
  readonly leftChildren: boolean;
}

export interface RunOptions {
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly timeoutMs: number;
  readonly until?: string | undefined;
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Runs one program in a process group of its own, so that everything it starts can be found
 * and ended: on a timeout, once `until` is printed, and when it exits but leaves children.
 */
export async function runProcess(argv: readonly string[], options: RunOptions): Promise<RunResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('nothing to run');
  const child = spawn(file, args, { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) {
    const [error] = (await once(child, 'error')) as [Error];
    throw error;
  }
  // Listened for now: the pipes may close before the exit is seen.
  const pipesClosed = Promise.all([once(child.stdout, 'close'), once(child.stderr, 'close')]).catch(() => undefined);
  let output = '';
  let untilSeen = false;
  let timedOut = false;
  const end = (why: 'until' | 'timeout') => {
    if (why === 'until') untilSeen = true;
    else timedOut = true;
    killGroup(pid, 'SIGTERM');
    setTimeout(() => killGroup(pid, 'SIGKILL'), 2000).unref();
  };
  const collect = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (options.until !== undefined && !untilSeen && !timedOut && output.includes(options.until)) end('until');
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const timer = setTimeout(() => end('timeout'), options.timeoutMs);
  const [exitCode, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);

  // Children a program ends as it exits may take a moment to go; a second is plenty.
  let leftChildren = false;
  for (let waited = 0; groupAlive(pid); waited += 50) {
    if (waited >= 1000) {
      leftChildren = true;
      killGroup(pid, 'SIGKILL');
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // The pipes close once every process holding them is gone.
  await Promise.race([pipesClosed, new Promise((resolve) => setTimeout(resolve, 3000))]);
  return { exitCode, signal, output, timedOut, untilSeen, leftChildren };
}

interface OtlpTraces {
  resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: Array<{ name?: string }> }> }>;
}

/** An OTLP/HTTP (JSON) trace receiver on localhost:PORT that records the names of the spans it gets. */
export interface Collector {
  readonly spanNames: string[];
  close(): Promise<void>;
}

export async function startCollector(port: number): Promise<Collector> {
  const spanNames: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      if (req.url === '/v1/traces' && req.headers['content-type'] === 'application/json') {
        const traces = JSON.parse(body) as OtlpTraces;
        for (const rs of traces.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) for (const span of ss.spans ?? []) spanNames.push(span.name ?? '');
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  // localhost may resolve to ::1 or 127.0.0.1: a dual-stack listener takes both, else IPv4.
  for (const host of ['::', '127.0.0.1']) {
    try {
      server.listen(port, host);
      await once(server, 'listening');
      break;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE')
        throw new Error(`port ${port} is in use: the docs test runs its own OTLP collector there; stop whatever listens on it`, { cause: error });
      if (host === '127.0.0.1') throw error;
    }
  }
  return {
    spanNames,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
