// `npm run bench`: runs every figure script in sequence, each in its own process, then
// prints the table of every figure with its budget and writes bench/results/summary.md and the
// Overhead table in docs/overhead.md (bench/lib/overhead-table.mjs).
//
//   node bench/run.mjs            every figure
//   node bench/run.mjs 1 4        only figures 1 and 4
//
// Every figure runs its load from separate processes, pinned with taskset (measured process on
// CPU 0, load on CPU 1), inside a private network namespace when `unshare -n` works, against a
// copy of dist/ made at the start (bench/.snapshot), so rebuilds during the run do not matter.
//
// Knobs (environment):
//   BENCH_ROUNDS (5, at least 5), BENCH_SECONDS (2), BENCH_WARMUP_SECONDS (1)             figures 1-3
//   BENCH_CLOSE_CONNECTIONS (32), BENCH_KEEPALIVE_CONNECTIONS (8), BENCH_CHURN_CONCURRENCY (16)
//   BENCH_POLL_SOCKETS (1000,10000,50000), BENCH_DELAY_AT (10000), BENCH_DELAY_WINDOW_MS (10000),
//   BENCH_POLL_INTERVAL_MS (1000)                                                        figure 4
//   BENCH_IDLE_CONNECTIONS (10000), BENCH_MEMORY_REPS (1)                                 figure 5
//   BENCH_THRESHOLD_MS (2000), BENCH_DETECT_POLL_MS (500), BENCH_LEAKS (100)              figure 6
//   (figure 7, parse linearity, has no knob: it parses in its own process, no load)
//   BENCH_INSTR_REPS (2), BENCH_INSTR_JOBS (2), BENCH_INSTR_CASES, BENCH_INSTR_CHURN_N1/N2
//   (8000/16000), BENCH_INSTR_KEEPALIVE_N1/N2 (20000/60000), BENCH_INSTR_CLIENT_N1/N2
//   (8000/16000)                                                                          figure 8 (valgrind)
//   BENCH_CALLGRIND=<dir>  figure 8 under callgrind, its output kept in <dir>
//   BENCH_CPU_PROF=<dir>   CPU profiles of the measured processes (read them with
//                          node bench/lib/cpuprofile.mjs <file>)
//   BENCH_NETNS=0          run in the host network namespace
//   BENCH_QUIET_WAIT_S (15) how long to wait for other processes to quieten before a figure
//   BENCH_VERBOSE=1        print every burst
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { TABLE_FILE, writeTableBlock } from './lib/overhead-table.mjs';
import { machine, RESULTS } from './lib/report.mjs';
import { makeSnapshot } from './lib/snapshot.mjs';

const BENCH = fileURLToPath(new URL('.', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIGURES = ['1-http-close', '2-http-keepalive', '3-client-churn', '4-poll-cost', '5-memory', '6-detection-latency', '7-parse-linearity', '8-instructions'];

// `--table`: run nothing, rebuild the table from the results already in bench/results.
const tableOnly = process.argv.includes('--table');
const only = process.argv.slice(2).filter((a) => a !== '--table');
const selected = only.length === 0 ? FIGURES : FIGURES.filter((f) => only.some((o) => f === o || f.startsWith(`${o}-`)));
if (selected.length === 0) {
  console.error(`no figure matches ${only.join(' ')}; figures: ${FIGURES.join(', ')}`);
  process.exit(2);
}
if (!existsSync(`${ROOT}dist`)) {
  console.error('dist/ is missing: run `npm run build` first (npm run bench does)');
  process.exit(2);
}

/** CPU time other processes use while this one sleeps: a busy machine makes the ratios noisy. */
async function busyShare(ms = 1000) {
  const read = () => os.cpus().map((c) => c.times);
  const a = read();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const b = read();
  let busy = 0;
  let total = 0;
  b.forEach((t, i) => {
    const d = (k) => t[k] - a[i][k];
    const all = d('user') + d('nice') + d('sys') + d('idle') + d('irq');
    total += all;
    busy += all - d('idle');
  });
  return total === 0 ? 0 : busy / total;
}

/**
 * Each figure runs in a network namespace of its own (`unshare -n`, loopback only), when this
 * machine allows it: its sockets are the only ones in the kernel table that ss walks, so no
 * figure pays for the TIME_WAIT sockets an earlier one (or another program) left behind.
 * BENCH_NETNS=0 runs in the host namespace.
 */
function netnsWorks() {
  if (process.env.BENCH_NETNS === '0') return false;
  const r = spawnSync('unshare', ['-n', '--', 'sh', '-c', 'ip link set lo up && ip -o addr show dev lo'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('127.0.0.1');
}
const NETNS = netnsWorks();

function runScript(name) {
  return new Promise((resolve) => {
    const script = `${BENCH}${name}.mjs`;
    const [cmd, args] = NETNS
      ? ['unshare', ['-n', '--', 'sh', '-c', 'ip link set lo up && exec "$0" "$1"', process.execPath, script]]
      : [process.execPath, [script]];
    const child = spawn(cmd, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, BENCH_NETNS_PRIVATE: NETNS ? '1' : '0' } });
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
}

const started = Date.now();
mkdirSync(RESULTS, { recursive: true });
if (!tableOnly) for (const f of readdirSync(RESULTS)) if (f.endsWith('.json') && selected.some((s) => f === `${s}.json`)) rmSync(RESULTS + f);

// One copy of the build for every figure, safe from rebuilds while the benchmark runs.
process.env.BENCH_SNAPSHOT = await makeSnapshot();
// Every figure's result goes to the table's results, a figure run for some of its cases too.
process.env.BENCH_RESULTS_DIR = RESULTS;
const machineLine = machine();
console.log(
  `socklife overhead benchmark\nmachine: ${machineLine}\n${NETNS ? 'each figure runs in a private network namespace (loopback only)' : 'figures run in the host network namespace'}`,
);
const busyBefore = tableOnly ? 0 : await busyShare();
if (busyBefore > 0.1) {
  console.log(`warning: other processes keep ${(busyBefore * 100).toFixed(0)}% of the CPUs busy; ratios will be noisy`);
}

/** Waits (up to BENCH_QUIET_WAIT_S seconds) for other processes to leave the CPUs mostly idle. */
async function waitQuiet() {
  const maxMs = Number(process.env.BENCH_QUIET_WAIT_S ?? 15) * 1000;
  const t0 = Date.now();
  let share = await busyShare(500);
  while (share > 0.15 && Date.now() - t0 < maxMs) {
    console.log(`waiting for a quieter machine: other processes use ${(share * 100).toFixed(0)}% of the CPUs`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    share = await busyShare(500);
  }
  return share;
}

const busy = [];
for (const name of tableOnly ? [] : selected) {
  busy.push(await waitQuiet());
  const { code, signal } = await runScript(name);
  if (signal) console.log(`${name} ended by ${signal}`);
  else if (code !== 0 && !existsSync(`${RESULTS}${name}.json`)) console.log(`${name} exited with ${code} and wrote no result`);
}
const seconds = Math.round((Date.now() - started) / 1000);

// The table.
const results = selected.map((name) => {
  try {
    return JSON.parse(readFileSync(`${RESULTS}${name}.json`, 'utf8'));
  } catch {
    return {
      id: name,
      checks: [{ figure: name.split('-')[0], what: 'the figure script ran', budget: 'a result', measured: 'no result written', pass: false }],
    };
  }
});
const rows = results.flatMap((r) => r.checks.map((c) => ({ ...c, id: r.id })));
const failed = rows.filter((c) => !c.pass);
const shortMachine = `${os.cpus().length} × ${(os.cpus()[0]?.model ?? 'CPU').replace(/\s+/g, ' ').trim()}`;
const verdict = (c) => (c.stated ? 'stated' : c.pass ? 'PASS' : '**FAIL**');
const escape = (s) => String(s).replaceAll('|', '\\|');

const md = [
  '| figure | what | budget | measured | result | machine |',
  '|---|---|---|---|---|---|',
  ...rows.map((c) => `| ${c.figure} | ${escape(c.what)} | ${escape(c.budget)} | ${escape(c.measured)} | ${verdict(c)} | ${escape(shortMachine)} |`),
  '',
  `Machine: ${machineLine}. ${NETNS ? 'Each figure ran in a private network namespace (loopback only), so that ss walks only its own sockets.' : 'Figures ran in the host network namespace.'}`,
  `Reproduce: \`npm run bench\` (${tableOnly ? "table rebuilt from the figures' results" : `${seconds} s for this run`}${selected.length < FIGURES.length ? `, figures ${selected.join(', ')}` : ''}); each figure alone: \`node bench/<figure>.mjs\` after \`npm run build\`; raw numbers in \`bench/results/<figure>.json\`.`,
  Math.max(busyBefore, ...busy) > 0.1
    ? `Note: other processes kept up to ${(Math.max(busyBefore, ...busy) * 100).toFixed(0)}% of the CPUs busy between figures (sampled for 0.5-1 s each time); ratios are noisier than on an idle machine.`
    : '',
  '',
  '<details><summary>details per figure</summary>',
  '',
  ...rows.filter((c) => c.detail).map((c) => `- **${c.figure}** ${escape(c.what)}: ${escape(c.detail)}`),
  '',
  '</details>',
  '',
].join('\n');
writeFileSync(`${RESULTS}summary.md`, md);
// A run of every figure (or the table rebuilt from all of them) is what docs/overhead.md shows.
const tableWritten = selected.length === FIGURES.length && writeTableBlock(`${ROOT}${TABLE_FILE}`, md);

console.log(`\n=== socklife overhead: ${rows.length - failed.length}/${rows.length} figures within budget (${seconds} s)\n`);
const width = (k, min) => Math.max(min, ...rows.map((c) => String(c[k]).length));
const w = { figure: width('figure', 6), budget: Math.min(34, width('budget', 6)), measured: Math.min(30, width('measured', 8)) };
console.log(`${'figure'.padEnd(w.figure)}  ${'budget'.padEnd(w.budget)}  ${'measured'.padEnd(w.measured)}  result  what`);
for (const c of rows) {
  console.log(
    `${c.figure.padEnd(w.figure)}  ${String(c.budget).padEnd(w.budget)}  ${String(c.measured).padEnd(w.measured)}  ${(c.stated ? 'stated' : c.pass ? 'PASS' : 'FAIL').padEnd(6)}  ${c.what}`,
  );
}
console.log(`\nmachine: ${machineLine}`);
console.log(`table: ${RESULTS}summary.md${tableWritten ? `, and in ${TABLE_FILE} (Overhead)` : ''}`);
if (seconds > 600) console.log(`warning: the run took ${seconds} s, over the 10 minute target`);
process.exitCode = failed.length === 0 ? 0 : 1;
