// `npm run soak`: 1,000,000 connections churned through an instrumented server, in chunks.
// After each chunk, once every connection has closed, the server reports what
// tcp.connection.count says (it must be 0: no record is left) and its retained heap (after
// garbage collection). The heap must stay flat after the warm-up chunks: at most 10% above
// the first measurement after them. Not part of CI: it takes minutes.
//
// Knobs (environment): SOAK_CONNECTIONS (1000000), SOAK_CHUNK (50000), SOAK_WARMUP_CHUNKS (2),
// SOAK_CONCURRENCY (64), SOAK_MAX_MINUTES (60): the run fails when it takes longer,
// SOAK_POLL_INTERVAL_MS (1000), BENCH_NETNS=0: run in the host network namespace.
//
// It runs in a private network namespace (`unshare -n`) when it can: the 60 s of TIME_WAIT that
// each closed connection leaves behind stay out of everyone else's kernel table.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NodeChild, SDK, stopAll } from './lib/child.mjs';
import { machine, RESULTS } from './lib/report.mjs';

const env = (name, fallback) => Number(process.env[name] ?? fallback);
const TOTAL = env('SOAK_CONNECTIONS', 1_000_000);
const CHUNK = env('SOAK_CHUNK', 50_000);
const WARMUP_CHUNKS = env('SOAK_WARMUP_CHUNKS', 2);
const CONCURRENCY = env('SOAK_CONCURRENCY', 64);
const MAX_MS = env('SOAK_MAX_MINUTES', 60) * 60_000;
const MAX_GROWTH = 0.1;

if (process.env.SOAK_NETNS !== '1' && process.env.BENCH_NETNS !== '0') {
  const probe = spawnSync('unshare', ['-n', '--', 'sh', '-c', 'ip link set lo up'], { encoding: 'utf8' });
  if (probe.status === 0) {
    const script = fileURLToPath(import.meta.url);
    const child = spawn('unshare', ['-n', '--', 'sh', '-c', 'ip link set lo up && exec "$0" "$1"', process.execPath, script], {
      stdio: 'inherit',
      env: { ...process.env, SOAK_NETNS: '1' },
    });
    child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
    await new Promise(() => {});
  }
}

const started = Date.now();
const fmtMB = (bytes) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
console.log(`soak: ${TOTAL} connections in chunks of ${CHUNK}, ${CONCURRENCY} at a time; warm-up ${WARMUP_CHUNKS} chunks`);
console.log(`machine: ${machine()}${process.env.SOAK_NETNS === '1' ? '; private network namespace' : ''}`);

const server = new NodeChild('soak-server.cjs', { nodeArgs: ['--expose-gc', ...SDK], label: 'soak server' });
let client;
const chunks = [];
let failure;
try {
  const { port } = await server.waitForType('ready', 30_000);
  client = new NodeChild('soak-client.cjs', { args: [String(port)], label: 'soak client' });
  await client.waitForType('ready', 30_000);
  const baseline = await server.request({ cmd: 'measure' });
  console.log(`before: heap ${fmtMB(baseline.heapUsed)}, source ${baseline.source}`);
  for (let done = 0; done < TOTAL;) {
    if (Date.now() - started > MAX_MS) throw new Error(`not finished within ${MAX_MS / 60_000} minutes`);
    const count = Math.min(CHUNK, TOTAL - done);
    const load = await client.request({ cmd: 'run', count, concurrency: CONCURRENCY }, MAX_MS);
    done += count;
    const m = await server.request({ cmd: 'measure' });
    const chunk = {
      done,
      ms: Math.round(load.ms),
      errors: load.errors,
      rate: Math.round((count / load.ms) * 1000),
      connections: m.connections,
      heapUsed: m.heapUsed,
      rss: m.rss,
    };
    chunks.push(chunk);
    console.log(
      `${String(done).padStart(8)} connections: ${String(chunk.rate).padStart(5)}/s, ${load.errors} errors, tcp.connection.count ${m.connections}, heap ${fmtMB(m.heapUsed)}, rss ${fmtMB(m.rss)}`,
    );
  }
} catch (error) {
  failure = String(error?.stack ?? error);
  console.error(failure);
} finally {
  await stopAll([client, server]);
}

const durationMs = Date.now() - started;
const afterWarmup = chunks.slice(WARMUP_CHUNKS);
const base = chunks[WARMUP_CHUNKS - 1]?.heapUsed ?? chunks[0]?.heapUsed;
const peak = Math.max(...afterWarmup.map((c) => c.heapUsed));
const growth = base === undefined || afterWarmup.length === 0 ? undefined : (peak - base) / base;
const leftOpen = chunks.filter((c) => c.connections !== 0);
const errors = chunks.reduce((n, c) => n + c.errors, 0);
const pass = failure === undefined && chunks.length > WARMUP_CHUNKS && leftOpen.length === 0 && growth !== undefined && growth <= MAX_GROWTH;
const result = {
  machine: machine(),
  connections: chunks.at(-1)?.done ?? 0,
  chunk: CHUNK,
  concurrency: CONCURRENCY,
  warmupChunks: WARMUP_CHUNKS,
  durationMs,
  heapAfterWarmup: base,
  heapPeakAfterWarmup: peak,
  heapGrowth: growth,
  budget: MAX_GROWTH,
  chunksWithConnectionsLeft: leftOpen.length,
  errors,
  pass,
  failure,
  chunks,
};
mkdirSync(RESULTS, { recursive: true });
writeFileSync(`${RESULTS}soak.json`, `${JSON.stringify(result, null, 2)}\n`);
console.log(
  `\nsoak: ${result.connections} connections in ${(durationMs / 60_000).toFixed(1)} min; heap after warm-up ${base === undefined ? '-' : fmtMB(base)}, ` +
    `peak after ${Number.isFinite(peak) ? fmtMB(peak) : '-'} (${growth === undefined ? '-' : `${(growth * 100).toFixed(1)}%`}, budget ${MAX_GROWTH * 100}%); ` +
    `chunks ending with connections left: ${leftOpen.length}; errors ${errors}: ${pass ? 'PASS' : 'FAIL'}`,
);
process.exit(pass ? 0 : 1);
