// Starting the processes of a benchmark: each one a separate Node process (optionally pinned
// to a CPU with taskset), talking to the orchestrator over an IPC channel in JSON messages.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { snapshot } from './snapshot.mjs';

export const PROGRAMS = fileURLToPath(new URL('../programs/', import.meta.url));
const LIB = fileURLToPath(new URL('./', import.meta.url));

/** Children run in the snapshot (see snapshot.mjs): `socklife/register` resolves to its copy of the build. */
export const CWD = await snapshot();
/** The socklife package the children load (programs that need its internals read BENCH_SOCKLIFE_DIR). */
export const SOCKLIFE_DIR = `${CWD}node_modules/socklife/`;

/** Preload flags. */
export const SDK = ['--require', `${LIB}sdk.cjs`];
export const SOCKLIFE = ['--require', 'socklife/register'];
export const ONE_SPAN = ['--require', `${LIB}one-span.cjs`];
export const NET_INSTRUMENTATION = ['--require', `${LIB}instrumentation-net.cjs`];
export const TWO_SPANS = ['--require', `${LIB}two-spans.cjs`];
export const OBSERVER_FLOOR = ['--require', `${LIB}observer-floor.cjs`];
export const MODEL_FLOOR = ['--require', `${LIB}model-floor.cjs`];
export const STACK_CAPTURE = ['--require', `${LIB}stack-capture.cjs`];
export const REQUEST_FLOOR = ['--require', `${LIB}request-floor.cjs`];
export const NATIVE_RESOURCE = ['--require', `${LIB}native-resource.cjs`];
export const PEER_READ = ['--require', `${LIB}peer-read.cjs`];

/** An environment without the parent's SOCKLIFE_* settings, plus `extra`. */
function childEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SOCKLIFE_')) env[k] = v;
  return { ...env, ...extra };
}

let nextRequestId = 1;

export class NodeChild {
  /**
   * `netns`: 'new' runs the process in a network namespace of its own (loopback only; see
   * `freshNetns`), a NodeChild runs it in that child's namespace.
   * @param {string} program file name in bench/programs/
   * `wrap`: a command the Node process runs under (valgrind, figure 8); it must exec Node in
   * the same process, so that the pid stays the Node process's.
   * `stdout`: a file the process's standard output goes to (a GC trace, figure 8), instead of ours.
   * @param {{ args?: string[], nodeArgs?: string[], env?: Record<string,string>, cpu?: number|string, profile?: boolean, label?: string, netns?: 'new' | NodeChild, wrap?: string[], stdout?: string }} options
   */
  constructor(program, options = {}) {
    const nodeArgs = [...(options.nodeArgs ?? [])];
    const profileDir = process.env.BENCH_CPU_PROF;
    if (options.profile && profileDir) {
      nodeArgs.unshift('--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${options.label ?? program}-${Date.now()}.cpuprofile`);
    }
    const argv = [...(options.wrap ?? []), process.execPath, ...nodeArgs, PROGRAMS + program, ...(options.args ?? [])];
    if (options.cpu !== undefined) argv.unshift('taskset', '-c', String(options.cpu));
    if (options.netns === 'new' && FRESH_NETNS) argv.unshift('unshare', '-n', '--', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh');
    else if (options.netns instanceof NodeChild && FRESH_NETNS) argv.unshift(...inNetnsOf(options.netns));
    this.pid = undefined;
    this.label = options.label ?? program;
    this.messages = [];
    this.waiters = [];
    this.exited = false;
    const stdout = options.stdout === undefined ? 'inherit' : openSync(options.stdout, 'w');
    this.child = spawn(argv[0], argv.slice(1), {
      cwd: CWD,
      env: childEnv({ BENCH_SOCKLIFE_DIR: SOCKLIFE_DIR, ...(options.env ?? {}) }),
      stdio: ['ignore', stdout, 'inherit', 'ipc'],
    });
    if (typeof stdout === 'number') closeSync(stdout);
    // unshare, sh, taskset (and valgrind) each exec the next: the pid is the Node process's.
    this.pid = this.child.pid;
    this.exit = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exited = true;
        for (const w of this.waiters.splice(0)) w.reject(new Error(`${this.label} exited (${signal ?? code}) before sending ${w.what}`));
        resolve({ code, signal });
      });
    });
    this.child.on('error', (error) => {
      for (const w of this.waiters.splice(0)) w.reject(error);
    });
    this.child.on('message', (message) => {
      const i = this.waiters.findIndex((w) => w.match(message));
      if (i === -1) this.messages.push(message);
      else this.waiters.splice(i, 1)[0].resolve(message);
    });
  }

  /** The first message (queued or future) that `match` accepts. */
  waitFor(match, timeoutMs = 120_000, what = 'a message') {
    const i = this.messages.findIndex(match);
    if (i !== -1) return Promise.resolve(this.messages.splice(i, 1)[0]);
    if (this.exited) return Promise.reject(new Error(`${this.label} has exited; no ${what}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const j = this.waiters.indexOf(waiter);
        if (j !== -1) this.waiters.splice(j, 1);
        reject(new Error(`${this.label}: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const waiter = {
        what,
        match,
        resolve: (m) => {
          clearTimeout(timer);
          if (m && m.type === 'error') reject(new Error(`${this.label}: ${m.message}`));
          else resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Waits for a message of one type (or an 'error' message from the child). */
  waitForType(type, timeoutMs) {
    return this.waitFor((m) => m?.type === type || m?.type === 'error', timeoutMs, `'${type}'`);
  }

  /** Sends a command and waits for its reply (same id). */
  request(command, timeoutMs = 120_000) {
    const id = nextRequestId++;
    this.child.send({ ...command, id });
    return this.waitFor((m) => m?.id === id, timeoutMs, `the reply to '${command.cmd}'`);
  }

  /** Ends the process: a 'stop' command, then SIGTERM, then SIGKILL. */
  async stop(timeoutMs = 5000) {
    if (this.exited) return this.exit;
    try {
      this.child.send({ cmd: 'stop' });
    } catch {
      this.child.kill('SIGTERM');
    }
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const result = await this.exit;
    clearTimeout(timer);
    return result;
  }
}

/**
 * True when a process can get a network namespace of its own here (root, `unshare -n`).
 * Then every measured process of figures 1-3 starts in a new one: the TIME_WAIT sockets and
 * the connection tables of the run before it are not in the kernel tables its connections
 * go through. BENCH_NETNS=0 turns it off.
 */
export const FRESH_NETNS = (() => {
  if (process.env.BENCH_NETNS === '0') return false;
  const r = spawnSync('unshare', ['-n', '--', 'sh', '-c', 'ip link set lo up && ip -o addr show dev lo'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('127.0.0.1');
})();

/** The command prefix that runs a command in `child`'s network namespace (when FRESH_NETNS). */
export function inNetnsOf(child) {
  return FRESH_NETNS && child?.pid !== undefined ? ['nsenter', '-t', String(child.pid), '-n', '--'] : [];
}

/** Stops every child given, in parallel, ignoring failures. */
export async function stopAll(children) {
  await Promise.all(children.filter(Boolean).map((c) => c.stop().catch(() => {})));
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
