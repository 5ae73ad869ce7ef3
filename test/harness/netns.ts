/**
 * Private network namespaces for tests: each test gets its own loopback, so sockets,
 * ports and nftables rules in it touch nothing else on the machine.
 *
 * Every command is run with execa, a fixed argv and no shell. Needs root, `ip` (iproute2)
 * and `nft` (Debian package `nftables`); `canUseNetns()` says why not when they are missing.
 */
import { randomBytes } from 'node:crypto';

/**
 * execa is ESM-only and this repo's TypeScript files are CommonJS to the type checker
 * (package.json has no "type": "module"), so a static `import { execa } from 'execa'`
 * fails `tsc` with TS1479. A dynamic import keeps both tsc and vitest happy.
 */
const importExeca = () => import('execa');
type ExecaModule = Awaited<ReturnType<typeof importExeca>>;
let execaModule: Promise<ExecaModule> | undefined;

export async function loadExeca(): Promise<ExecaModule['execa']> {
  execaModule ??= importExeca();
  return (await execaModule).execa;
}

/** Every namespace this harness makes is named `socklife-<creator pid>-<n>-<random>`. */
export const NETNS_PREFIX = 'socklife-';
const NAME_PATTERN = /^socklife-(\d+)-\d+-[0-9a-f]+$/;

/** Timeout for the short `ip`/`nft`/`ss` commands; they take milliseconds. */
const COMMAND_TIMEOUT_MS = 10_000;

/** `LC_ALL=C` so tool output does not depend on the machine's locale. */
const COMMAND_ENV = { LC_ALL: 'C' };

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

export interface RunOptions {
  /** Text written to the command's stdin (then closed). Default: stdin ignored. */
  readonly input?: string;
  /** Default 10 000 ms. */
  readonly timeoutMs?: number;
  /** When false a non-zero exit resolves instead of rejecting. Default true. */
  readonly reject?: boolean;
}

/** Runs `command ...args` (no shell) and returns its output. */
export async function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const execa = await loadExeca();
  const result = await execa(command, [...args], {
    ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
    timeout: options.timeoutMs ?? COMMAND_TIMEOUT_MS,
    reject: options.reject ?? true,
    env: COMMAND_ENV,
    shell: false,
    stripFinalNewline: false,
  });
  return { stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? ''), exitCode: result.exitCode ?? -1 };
}

/** Runs `command ...args` inside the namespace: `ip netns exec NAME command ...args`. */
export function runInNetns(netns: string, command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  return run('ip', ['netns', 'exec', netns, command, ...args], options);
}

/**
 * Loads an nftables ruleset (the text `nft -f` reads) inside the namespace:
 * `ip netns exec NAME nft -f -` with the ruleset on stdin. The rules see only the
 * namespace's own traffic.
 */
export async function applyNftRuleset(netns: string, ruleset: string): Promise<void> {
  const result = await runInNetns(netns, 'nft', ['-f', '-'], { input: ruleset, reject: false });
  if (result.exitCode !== 0) {
    throw new Error(`nft -f - in ${netns} exited with ${result.exitCode}: ${result.stderr.trim()}\nruleset:\n${ruleset}`);
  }
}

/** Pids of the processes inside the namespace (`ip netns pids NAME`). */
export async function netnsPids(netns: string): Promise<number[]> {
  const result = await run('ip', ['netns', 'pids', netns], { reject: false });
  if (result.exitCode !== 0) return [];
  return result.stdout
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

/**
 * Deletes the namespace. Any process still inside it (only ever processes this harness
 * started there) is sent SIGKILL by pid first, so the namespace really goes away instead
 * of living on, unnamed, until they exit. Never throws when the namespace is already gone.
 */
export async function deleteNetns(netns: string): Promise<void> {
  for (const pid of await netnsPids(netns)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const result = await run('ip', ['netns', 'del', netns], { reject: false });
  if (result.exitCode !== 0 && (await listNetns()).includes(netns)) {
    throw new Error(`ip netns del ${netns} exited with ${result.exitCode}: ${result.stderr.trim()}`);
  }
}

/** Names of all named namespaces (`ip netns list`). */
export async function listNetns(): Promise<string[]> {
  const result = await run('ip', ['netns', 'list'], { reject: false });
  if (result.exitCode !== 0) return [];
  return result.stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name !== '');
}

export interface Netns {
  readonly name: string;
  /** `ip netns exec NAME command ...args`. */
  exec(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult>;
  /** `ip netns exec NAME nft -f -` with the ruleset on stdin. */
  applyRuleset(ruleset: string): Promise<void>;
  /** Deletes the namespace. Idempotent; call it in `finally` / `afterEach`. */
  dispose(): Promise<void>;
}

let counter = 0;

/**
 * Creates a uniquely named namespace with its loopback up. If setting it up fails, the
 * namespace is deleted before the error is thrown; otherwise the caller owns `dispose()`.
 */
export async function createNetns(): Promise<Netns> {
  counter += 1;
  const name = `${NETNS_PREFIX}${process.pid}-${counter}-${randomBytes(3).toString('hex')}`;
  await run('ip', ['netns', 'add', name]);
  let disposed: Promise<void> | undefined;
  const netns: Netns = {
    name,
    exec: (command, args, options) => runInNetns(name, command, args, options),
    applyRuleset: (ruleset) => applyNftRuleset(name, ruleset),
    dispose: () => (disposed ??= deleteNetns(name)),
  };
  try {
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (error) {
    await netns.dispose().catch(() => undefined);
    throw error;
  }
  return netns;
}

/**
 * Deletes namespaces this harness left behind in earlier runs: those named
 * `socklife-<pid>-...` whose creating process no longer exists (a killed test worker
 * cannot run its cleanup). Namespaces of live processes are left alone. Returns the names
 * it deleted.
 */
export async function removeStaleNetns(): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await listNetns()) {
    const match = NAME_PATTERN.exec(name);
    if (!match) continue;
    if (isAlive(Number(match[1]))) continue;
    await deleteNetns(name).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let availability: Promise<string | undefined> | undefined;

/**
 * Whether this machine can run the namespace tests. Resolves to `undefined` when it can,
 * else to the reason it cannot (not Linux, not root, a tool missing, namespaces refused).
 * Checks by doing: creates a namespace, loads a ruleset in it and deletes it. Cached.
 */
export function canUseNetns(): Promise<string | undefined> {
  availability ??= probe();
  return availability;
}

async function probe(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespaces need root (run the tests as uid 0)';
  for (const [tool, args, pkg] of [
    ['ip', ['-V'], 'iproute2'],
    ['ss', ['-V'], 'iproute2'],
    ['nft', ['--version'], 'nftables'],
  ] as const) {
    const failure = await run(tool, args).then(
      () => undefined,
      (error: unknown) => describeFailure(tool, error),
    );
    if (failure !== undefined) return `${failure} (Debian package ${pkg})`;
  }
  let netns: Netns | undefined;
  try {
    netns = await createNetns();
    await netns.applyRuleset('table inet socklife_probe {\n  chain input {\n    type filter hook input priority 0; policy accept;\n  }\n}\n');
    return undefined;
  } catch (error) {
    return `cannot set up a network namespace with nftables: ${describeFailure('ip/nft', error)}`;
  } finally {
    await netns?.dispose().catch(() => undefined);
  }
}

function describeFailure(tool: string, error: unknown): string {
  const e = error as { code?: unknown; shortMessage?: unknown; stderr?: unknown; message?: unknown };
  if (e?.code === 'ENOENT') return `${tool} not found on PATH`;
  const stderr = typeof e?.stderr === 'string' ? e.stderr.trim().split('\n')[0] : '';
  if (stderr) return `${tool}: ${stderr}`;
  if (typeof e?.shortMessage === 'string') return e.shortMessage;
  return typeof e?.message === 'string' ? e.message : `${tool} failed`;
}
