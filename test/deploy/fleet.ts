import { execa, type ResultPromise } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT } from '../support/packed-project.js';
import { RULES_FILE } from './deploy-files.js';

/**
 * The fleet of the live test: three processes of examples/fleet-process.mjs under the
 * socklife drop-in, each serving its metrics through @opentelemetry/exporter-prometheus, and
 * a real Prometheus server scraping them every second with the project's rules.
 */

export type Role = 'leak' | 'timewait' | 'clean';
export const ROLES: readonly Role[] = ['leak', 'timewait', 'clean'];

/** Short thresholds, so that findings come within seconds. */
const SOCKLIFE_ENV = {
  SOCKLIFE_CLOSE_WAIT_THRESHOLD_MS: '1000',
  SOCKLIFE_POLL_INTERVAL_MS: '200',
  SOCKLIFE_TIME_WAIT_THRESHOLD: '200',
};

const PROCESS = join(ROOT, 'examples', 'fleet-process.mjs');

type Subprocess = ResultPromise<{ reject: false; forceKillAfterDelay: number; cleanup: true; all: true }>;

/** This environment without settings of socklife or OpenTelemetry that would change what a child does. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith('SOCKLIFE_') || name.startsWith('OTEL_') || name === 'NODE_OPTIONS') continue;
    env[name] = value;
  }
  return env;
}

/** The first line a child prints on stdout, or an error naming what it printed instead. */
async function firstLine(child: Subprocess, what: string, timeoutMs: number): Promise<string> {
  const stdout = child.stdout;
  if (stdout === null) throw new Error(`${what}: no stdout`);
  const lines = createInterface({ input: stdout });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      timer = setTimeout(() => reject(new Error(`${what}: printed no line within ${timeoutMs} ms`)), timeoutMs);
      void child.then((result) =>
        reject(new Error(`${what} exited (${result.exitCode ?? result.signal}) before printing a line:\n${String(result.all ?? result.stderr)}`)),
      );
    });
  } finally {
    clearTimeout(timer);
    lines.close();
  }
}

/** A port of 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** What pollUntil throws at its deadline. */
export class DeadlineError extends Error {}

/** Calls `check` until it returns a value other than undefined, or throws a DeadlineError with `describe()` at the deadline. */
export async function pollUntil<T>(check: () => Promise<T | undefined>, timeoutMs: number, describe: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new DeadlineError(`not within ${timeoutMs} ms: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export interface PromAlert {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly state: 'firing' | 'pending' | 'inactive';
}

export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

export interface Fleet {
  /** `instance` label of each role's target (`127.0.0.1:PORT`). */
  readonly instances: Readonly<Record<Role, string>>;
  /** http://127.0.0.1:PORT of the Prometheus server. */
  readonly prometheus: string;
  alerts(): Promise<PromAlert[]>;
  /** An instant query; throws with Prometheus's error when the query fails. */
  query(expr: string): Promise<PromSample[]>;
  api<T>(path: string): Promise<T>;
  stop(): Promise<void>;
}

/** Prometheus's configuration: a 1 s scrape and rule evaluation, the project's rules, the fleet's targets. */
export function prometheusConfig(targets: readonly string[], rulesFile: string): string {
  return [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    '  evaluation_interval: 1s',
    'rule_files:',
    `  - ${JSON.stringify(rulesFile)}`,
    'scrape_configs:',
    '  - job_name: socklife-fleet',
    '    static_configs:',
    `      - targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}]`,
    '',
  ].join('\n');
}

export async function startFleet(): Promise<Fleet> {
  const dir = mkdtempSync(join(tmpdir(), 'socklife-fleet-'));
  const children: Subprocess[] = [];
  const stop = async (): Promise<void> => {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const env = { ...cleanEnv(), ...SOCKLIFE_ENV };
    const started = await Promise.all(
      ROLES.map(async (role) => {
        const child: Subprocess = execa(process.execPath, ['--import', 'socklife/register', PROCESS, role], {
          cwd: ROOT,
          env,
          extendEnv: false,
          reject: false,
          forceKillAfterDelay: 3000,
          cleanup: true,
          all: true as const,
        });
        children.push(child);
        const line = await firstLine(child, `fleet-process.mjs ${role}`, 20_000);
        const { metrics } = JSON.parse(line) as { metrics: string };
        return [role, metrics] as const;
      }),
    );
    const instances = Object.fromEntries(started) as Record<Role, string>;

    const port = await freePort();
    const prometheus = `http://127.0.0.1:${port}`;
    const config = join(dir, 'prometheus.yml');
    writeFileSync(config, prometheusConfig(Object.values(instances), RULES_FILE));
    const server: Subprocess = execa(
      'prometheus',
      [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
      { cwd: dir, reject: false, forceKillAfterDelay: 3000, cleanup: true, all: true as const },
    );
    children.push(server);
    let exited: string | undefined;
    void server.then((result) => (exited = `prometheus exited (${result.exitCode ?? result.signal}):\n${String(result.all)}`));

    const api = async <T>(path: string): Promise<T> => {
      const response = await fetch(`${prometheus}${path}`, { signal: AbortSignal.timeout(5000) });
      const body = (await response.json()) as { status: string; data: T; error?: string; errorType?: string };
      if (body.status !== 'success') throw new Error(`${path}: ${body.errorType ?? ''} ${body.error ?? ''}`);
      return body.data;
    };
    await pollUntil(
      async () => {
        if (exited !== undefined) throw new Error(exited);
        try {
          return (await fetch(`${prometheus}/-/ready`, { signal: AbortSignal.timeout(2000) })).ok ? true : undefined;
        } catch {
          return undefined;
        }
      },
      30_000,
      () => `prometheus ready on ${prometheus}`,
    );
    return {
      instances,
      prometheus,
      api,
      alerts: async () => (await api<{ alerts: PromAlert[] }>('/api/v1/alerts')).alerts,
      query: async (expr) => (await api<{ resultType: string; result: PromSample[] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`)).result,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
