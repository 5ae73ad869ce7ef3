import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { epochMs } from '../support/telemetry.js';
import { serverSideOf, type ServerSide } from '../support/server-side.js';

/** Every message given to OpenTelemetry's `diag` at WARN or above, while captured. */
export interface DiagCapture {
  readonly messages: string[];
  /** socklife's messages only. */
  socklife(): string[];
  /** How many of socklife's messages match. */
  count(pattern: RegExp): number;
  dispose(): void;
}

export function captureDiag(): DiagCapture {
  const messages: string[] = [];
  const log = (message: string, ...args: unknown[]): void => {
    messages.push([message, ...args.map((a) => (a instanceof Error ? a.message : String(a)))].join(' '));
  };
  const logger: DiagLogger = { error: log, warn: log, info: log, debug: log, verbose: log };
  diag.setLogger(logger, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  const socklife = (): string[] => messages.filter((m) => m.includes('socklife'));
  return {
    messages,
    socklife,
    count: (pattern) => socklife().filter((m) => pattern.test(m)).length,
    dispose: () => diag.disable(),
  };
}

/** A directory of fake tools put first on (or made the whole of) PATH for this process and its children. */
export class FakeTools {
  readonly dir = mkdtempSync(join(tmpdir(), 'socklife-fake-'));
  /** Each fake run appends `start <pid> <epoch ms>` here: its pid is its process group (runTool detaches it). */
  readonly log = join(this.dir, 'runs.log');
  private readonly savedPath = process.env.PATH;

  /**
   * Writes `name` as a shell script: it logs its start, then runs `body`. All commands are
   * given by absolute path, so the script works with PATH reduced to this directory.
   */
  write(name: string, body: string, mode = 0o755): string {
    const path = join(this.dir, name);
    writeFileSync(path, `#!/bin/sh\necho "start $$ $(/usr/bin/date +%s%3N)" >> '${this.log}'\n${body}\n`, { mode });
    return path;
  }

  /** PATH = this directory first, then the rest (`only`: this directory alone). */
  usePath(only = false): void {
    process.env.PATH = only ? this.dir : `${this.dir}${delimiter}${this.savedPath ?? ''}`;
  }

  /** Each run of a fake tool: its pid (= process group) and start time, in order. */
  runs(): Array<{ pid: number; at: number }> {
    if (!existsSync(this.log)) return [];
    return readFileSync(this.log, 'utf8')
      .split('\n')
      .flatMap((line) => {
        const m = /^start (\d+) (\d+)$/.exec(line);
        return m === null ? [] : [{ pid: Number(m[1]), at: Number(m[2]) }];
      });
  }

  dispose(): void {
    process.env.PATH = this.savedPath;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The real binary of a tool on PATH. */
export function onPath(tool: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, tool))) return join(dir, tool);
  }
  throw new Error(`${tool} not on PATH`);
}

/** Live (not zombie) processes whose process group is `pgid`. */
export function processesInGroup(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so cut at the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') pids.push(Number(entry));
  }
  return pids;
}

/** Live child processes of this process. */
export function childProcesses(): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === process.pid && fields[0] !== 'Z') children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

export async function listen(server: net.Server, host = '127.0.0.1', port = 0): Promise<number> {
  server.listen(port, host);
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

/** The two CLOSE_WAIT bugs: one socket events prove (end_not_called), one only the kernel sees (not_read_to_eof). */
export interface Leaks {
  /** The leaking connections, as their servers' spans name them. */
  readonly halfOpen: ServerSide;
  readonly unread: ServerSide;
  /** When the clients' FINs went out (epoch ms). */
  readonly finAt: number;
  close(): void;
}

export async function makeLeaks(): Promise<Leaks> {
  function startHalfOpenServer(): net.Server {
    return net.createServer({ allowHalfOpen: true }, (socket) => socket.resume());
  }
  function startNeverReadingServer(): net.Server {
    return net.createServer((socket) => socket.pause());
  }
  const halfOpen = startHalfOpenServer();
  const neverReading = startNeverReadingServer();
  const clients: net.Socket[] = [];
  const connect = async (server: net.Server): Promise<net.Socket> => {
    const port = await listen(server);
    const accepted = once(server, 'connection');
    const client = net.connect(port, '127.0.0.1');
    clients.push(client);
    await once(client, 'connect');
    await accepted;
    return client;
  };
  const a = await connect(halfOpen);
  const b = await connect(neverReading);
  a.end('request');
  b.end('request');
  const finAt = epochMs();
  return {
    halfOpen: serverSideOf(a),
    unread: serverSideOf(b),
    finAt,
    close() {
      for (const c of clients) c.destroy();
      halfOpen.close();
      neverReading.close();
      for (const s of [halfOpen, neverReading]) s.unref();
    },
  };
}

/** The application's own work: an echo round trip that must keep succeeding. */
export async function echoRoundTrip(text = 'ping'): Promise<string> {
  const server = net.createServer((socket) => socket.pipe(socket));
  const port = await listen(server);
  try {
    return await new Promise<string>((resolve, reject) => {
      const client = net.connect(port, '127.0.0.1', () => client.end(text));
      let received = '';
      client.setEncoding('utf8');
      client.on('data', (chunk: string) => (received += chunk));
      client.on('error', reject);
      client.on('close', () => resolve(received));
    });
  } finally {
    server.close();
  }
}

/** Records uncaught exceptions and unhandled rejections while installed. */
export function captureUncaught(): { readonly errors: unknown[]; dispose(): void } {
  const errors: unknown[] = [];
  const onError = (error: unknown): void => {
    errors.push(error);
  };
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  return {
    errors,
    dispose() {
      process.off('uncaughtException', onError);
      process.off('unhandledRejection', onError);
    },
  };
}
