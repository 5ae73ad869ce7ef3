// Figure 8: user-space instructions per connection or request, counted by valgrind (CPU time
// moves by several percent between two runs of the same server on this shared machine; an
// instruction count does not depend on how fast the CPU ran it, only on what the process
// did). For each variant the measured process runs twice, fresh, under `valgrind
// --tool=cachegrind`: once for N1 and once for N2 requests (or connections), the load coming from a separate process that is not measured. The count of
// the N1 run is taken from the N2 run's and divided by N2 - N1, so start-up, warm-up and exit
// cancel. N1 is large: V8 is still compiling the request path with TurboFan thousands of
// requests in (--trace-opt shows it), and a window that holds those compiles charges warm-up
// to every request, more to the variant with more code. socklife runs with its kernel source
// off (SOCKLIFE_SOURCE=none) and no poll inside the window, and every measured process without
// V8's memory reducer and with its young generation held at one size: valgrind slows the
// process many times over, by a factor that depends on the machine's load, and work done by
// the clock (a poll, a collection of a process V8 takes for idle, a resize of the young
// generation) would be charged to the requests (figure 4 measures the poll's own cost per
// second). What is still done by the clock inside the window (the event-loop delay monitor)
// and whatever the load's timing changes show in the A/A control and the spread. Cases:
//   server churn (Connection: close): bare, bare-control, socklife (no SDK), sdk,
//       sdk+socklife (default policy), observer-floor (no SDK), model-floor (no SDK: the least a
//       model records of each connection's events, bench/lib/model-floor.cjs),
//       model-floor+request-floor (that and bench/lib/request-floor.cjs),
//       model-floor+request-floor+native-resource (that and the event-loop delay monitor
//       socklife runs while the process listens: every part of socklife's default without an
//       SDK, each written the least way), socklife-norequests, sdk+native-resource,
//       sdk+native-resource+peer-read (that and the peer's address read at accept,
//       bench/lib/peer-read.cjs), sdk+native-resource+peer-read+model-floor+request-floor
//       (that and the two floors: every part of the default policy with an SDK, the least way),
//       sdk+socklife-findings (spans: findings, which records no connection)
//   server keep-alive: bare, bare-control, socklife, sdk, sdk+socklife, socklife-norequests
//       and sdk+socklife-norequests (socklife with followRequests: false: what following
//       requests costs), socklife-norequests+request-floor (the least a request follower does,
//       bench/lib/request-floor.cjs, on top of socklife without request following: its floor),
//       sdk+native-resource (the SDK and one more kind of native async resource,
//       bench/lib/native-resource.cjs: the floor under the SDK's share)
//   client churn (figure 3's client): sdk, sdk-control, sdk+net (instrumentation-net),
//       sdk+socklife (stacks on: sampled per destination, so under churn to one destination
//       most connections take none), sdk+socklife-nostacks, sdk+net+stacks (V8's capture of
//       the same stack at every connection, nothing kept, on top of instrumentation-net: the
//       floor under a stack taken at every connection)
// Budgets: churn socklife/bare <= 1.05 and sdk+socklife/sdk <= 1.05; keep-alive <= 1.01 for
// both, and for following requests (socklife / socklife-norequests, with and without the SDK); client sdk+socklife/sdk+net < 1.00. Each with its A/A control (the same program twice)
// and the spread over BENCH_INSTR_REPS (2) runs of each pair. CPU time per request stays the
// figure a user sees (figures 1-3); this one says what costs, without the noise.
//
// Knobs: BENCH_INSTR_REPS (2), BENCH_INSTR_CONCURRENCY (each case's own: requests or
// connections in flight), BENCH_INSTR_JOBS (2: measured processes at once), BENCH_INSTR_CASES (server-churn,keepalive,client-churn),
// BENCH_INSTR_VARIANTS (every variant; a list measures only those, for trying an idea; a run
// given BENCH_INSTR_CASES or BENCH_INSTR_VARIANTS alone writes its result to a temporary
// directory, not bench/results/; BENCH_RESULTS_DIR names the directory),
// BENCH_INSTR_CHURN_N1/N2 (8000/16000), BENCH_INSTR_KEEPALIVE_N1/N2 (20000/60000),
// BENCH_INSTR_CLIENT_N1/N2 (8000/16000),
// BENCH_CALLGRIND=<dir> (callgrind instead of cachegrind, its output kept in <dir>),
// BENCH_INSTR_TRACE_GC=<dir> (V8's --trace-gc of each measured process, in <dir>/<label>.gc),
// BENCH_INSTR_NODE_ARGS (more Node flags for each measured process, space-separated).
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { knob } from './lib/ab.mjs';
import {
  MODEL_FLOOR,
  NATIVE_RESOURCE,
  NET_INSTRUMENTATION,
  NodeChild,
  OBSERVER_FLOOR,
  PEER_READ,
  REQUEST_FLOOR,
  SDK,
  SOCKLIFE,
  STACK_CAPTURE,
} from './lib/child.mjs';
import { Figure, runFigure } from './lib/report.mjs';
import { fmt, median } from './lib/stats.mjs';
import { hasValgrind, InstructionCounter } from './lib/valgrind.mjs';

/**
 * socklife as measured: no kernel source, and no poll inside the window. The poll runs by the
 * clock (every 5 s by default), and valgrind stretches the clock many times over by a factor
 * that depends on the machine's load: charged to requests, it moved the same build's count
 * from one run to the next. What it costs per second is figure 4's.
 */
const NONE = { SOCKLIFE_SOURCE: 'none', SOCKLIFE_POLL_INTERVAL_MS: '3600000' };
/** socklife as measured, without request following (`followRequests: false`). */
const NO_REQUESTS = { ...NONE, SOCKLIFE_FOLLOW_REQUESTS: 'false' };
const churnN = [knob('INSTR_CHURN_N1', 8000), knob('INSTR_CHURN_N2', 16000)];
const keepAliveN = [knob('INSTR_KEEPALIVE_N1', 20000), knob('INSTR_KEEPALIVE_N2', 60000)];
const clientN = [knob('INSTR_CLIENT_N1', 8000), knob('INSTR_CLIENT_N2', 16000)];

/** The variants both server cases measure: each [extra environment, preload flags]. */
const SERVER_VARIANTS = {
  bare: [{}, []],
  'bare-control': [{}, []],
  socklife: [NONE, SOCKLIFE],
  sdk: [{}, SDK],
  'sdk+socklife': [NONE, [...SDK, ...SOCKLIFE]],
  'socklife-norequests': [NO_REQUESTS, SOCKLIFE],
  'sdk+native-resource': [{}, [...SDK, ...NATIVE_RESOURCE]],
};

const CASES = {
  'server-churn': {
    side: 'server',
    keepAlive: false,
    concurrency: 32,
    n: churnN,
    unit: 'request',
    variants: {
      ...SERVER_VARIANTS,
      'observer-floor': [{}, OBSERVER_FLOOR],
      'model-floor': [{}, MODEL_FLOOR],
      'model-floor+request-floor': [{}, [...MODEL_FLOOR, ...REQUEST_FLOOR]],
      'model-floor+request-floor+native-resource': [{}, [...MODEL_FLOOR, ...REQUEST_FLOOR, ...NATIVE_RESOURCE]],
      'sdk+native-resource+peer-read': [{}, [...SDK, ...NATIVE_RESOURCE, ...PEER_READ]],
      'sdk+native-resource+peer-read+model-floor+request-floor': [{}, [...SDK, ...NATIVE_RESOURCE, ...PEER_READ, ...MODEL_FLOOR, ...REQUEST_FLOOR]],
      'sdk+socklife-findings': [{ ...NONE, SOCKLIFE_SPANS: 'findings' }, [...SDK, ...SOCKLIFE]],
    },
  },
  keepalive: {
    side: 'server',
    keepAlive: true,
    concurrency: 8,
    n: keepAliveN,
    unit: 'request',
    variants: {
      ...SERVER_VARIANTS,
      'sdk+socklife-norequests': [NO_REQUESTS, [...SDK, ...SOCKLIFE]],
      'socklife-norequests+request-floor': [NO_REQUESTS, [...SOCKLIFE, ...REQUEST_FLOOR]],
    },
  },
  'client-churn': {
    side: 'client',
    concurrency: 16,
    n: clientN,
    unit: 'connection',
    variants: {
      sdk: [{}, SDK],
      'sdk-control': [{}, SDK],
      'sdk+net': [{}, [...SDK, ...NET_INSTRUMENTATION]],
      'sdk+socklife': [NONE, [...SDK, ...SOCKLIFE]],
      'sdk+socklife-nostacks': [{ ...NONE, SOCKLIFE_CAPTURE_STACKS: 'false' }, [...SDK, ...SOCKLIFE]],
      'sdk+net+stacks': [{}, [...SDK, ...NET_INSTRUMENTATION, ...STACK_CAPTURE]],
    },
  },
};

/**
 * V8 flags of every measured process. valgrind slows the clock many times over, so V8's memory
 * reducer, which runs full collections when the allocation rate per second of wall time is low,
 * would take the measured process for an idle one and collect by the clock. The young
 * generation is held at its largest size (16 MB a semi-space, as far as V8 grows it here under
 * load): left to resize with the process's timing, it made one pair scavenge several times as
 * often as another for the same requests; held, every variant pays its scavenges in proportion
 * to what it allocates.
 */
const MEASURED_FLAGS = ['--no-memory-reducer', '--min-semi-space-size=16', '--max-semi-space-size=16'];
/** BENCH_INSTR_TRACE_GC=<dir>: each measured process also traces V8's collections to <dir>/<label>.gc. */
const traceGcDir = process.env.BENCH_INSTR_TRACE_GC || undefined;
if (traceGcDir) mkdirSync(traceGcDir, { recursive: true });
/** BENCH_INSTR_NODE_ARGS: more flags for each measured process (`--perf-basic-prof` names JIT code for callgrind). */
const extraArgs = process.env.BENCH_INSTR_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
const diagnostics = (label) => (traceGcDir ? { nodeArgs: ['--trace-gc', ...extraArgs], stdout: join(traceGcDir, `${label}.gc`) } : { nodeArgs: extraArgs });

/** What the `sdk+native-resource` floor is, in the words of both server cases. */
const NATIVE_RESOURCE_FLOOR =
  "the SDK plus one more kind of native async resource (an event-loop delay histogram) / SDK only (the floor under the SDK's share: the async_hooks store of its AsyncLocalStorage turns megamorphic)";

const STARTUP_MS = 300_000;
const RUN_MS = 900_000;

/** One measured server under valgrind, `n` requests from a separate load process; its instruction count. */
async function serverRun(counter, c, env, nodeArgs, n, label) {
  const { file, log, wrap } = counter.wrap(label);
  const extra = diagnostics(label);
  const server = new NodeChild('http-server.cjs', {
    nodeArgs: [...MEASURED_FLAGS, ...extra.nodeArgs, ...nodeArgs],
    env,
    netns: 'new',
    wrap,
    label,
    stdout: extra.stdout,
  });
  let load;
  try {
    const { port } = await server.waitForType('ready', STARTUP_MS);
    load = new NodeChild('http-load.cjs', { netns: server, label: `${label}-load` });
    await load.waitForType('ready', 30_000);
    const r = await load.request({ cmd: 'requests', port, n, concurrency: c.concurrency, keepAlive: c.keepAlive }, RUN_MS);
    await load.stop();
    const { code, signal } = await server.stop(STARTUP_MS);
    if (code !== 0) throw new Error(`${label} exited with ${signal ?? code}:\n${counter.logTail(log)}`);
    return { instructions: counter.read(file), completed: r.completed, errors: r.errors };
  } finally {
    await load?.stop();
    await server.stop(10_000);
  }
}

/** One measured client under valgrind making `n` connections to a separate server; its instruction count. */
async function clientRun(counter, c, env, nodeArgs, n, label) {
  const { file, log, wrap } = counter.wrap(label);
  const extra = diagnostics(label);
  const server = new NodeChild('churn-server.cjs', { netns: 'new', label: `${label}-server` });
  let client;
  try {
    const { port } = await server.waitForType('ready', 30_000);
    client = new NodeChild('churn-client.cjs', {
      nodeArgs: [...MEASURED_FLAGS, ...extra.nodeArgs, ...nodeArgs],
      stdout: extra.stdout,
      env,
      args: [port, c.concurrency].map(String),
      netns: server,
      wrap,
      label,
    });
    await client.waitForType('ready', STARTUP_MS);
    const r = await client.request({ cmd: 'connections', n }, RUN_MS);
    const { code, signal } = await client.stop(STARTUP_MS);
    if (code !== 0) throw new Error(`${label} exited with ${signal ?? code}:\n${counter.logTail(log)}`);
    return { instructions: counter.read(file), completed: r.completed, errors: r.errors };
  } finally {
    await client?.stop(10_000);
    await server.stop();
  }
}

/** Runs `tasks` (functions returning promises), `jobs` at a time. */
async function pool(tasks, jobs) {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) await tasks[next++]();
  };
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, worker));
}

const k = (x) => `${fmt(x / 1000)}k`;
const range = (values) => `${Math.min(...values).toFixed(3)}–${Math.max(...values).toFixed(3)}`;

// Run alone for some of its cases or variants, it writes its result elsewhere (a temporary
// directory), so that it never takes the place of the whole figure's; bench/run.mjs names
// the directory (BENCH_RESULTS_DIR).
const partial = process.env.BENCH_INSTR_VARIANTS !== undefined || process.env.BENCH_INSTR_CASES !== undefined;
const resultsDir = process.env.BENCH_RESULTS_DIR ?? (partial ? join(os.tmpdir(), 'socklife-bench-partial') : undefined);
const figure = new Figure('8-instructions', 'user-space instructions per request or connection, valgrind (cachegrind), load from a separate process', {
  resultsDir,
});

await runFigure(figure, async () => {
  const version = await hasValgrind();
  if (version === undefined) throw new Error('valgrind is not installed (Debian/Ubuntu: apt-get install -y valgrind)');
  const reps = knob('INSTR_REPS', 2);
  const jobs = knob('INSTR_JOBS', 2);
  const selected = (process.env.BENCH_INSTR_CASES ?? Object.keys(CASES).join(',')).split(',').filter(Boolean);
  for (const name of selected) if (!(name in CASES)) throw new Error(`BENCH_INSTR_CASES: unknown case ${name}; cases: ${Object.keys(CASES).join(', ')}`);
  const counter = new InstructionCounter();
  figure.note(
    'method',
    `${version}, --tool=${counter.tool}${counter.tool === 'cachegrind' ? ' --cache-sim=no' : ''}, node ${MEASURED_FLAGS.join(' ')}; each variant measured fresh for N1 and N2 requests (or connections), (count(N2) - count(N1)) / (N2 - N1); ${reps} runs of each pair, ${jobs} measured processes at a time; socklife with SOCKLIFE_SOURCE=none and SOCKLIFE_POLL_INTERVAL_MS=3600000 (no poll in the window); server churn ${churnN.join('/')} requests, 32 at a time; keep-alive ${keepAliveN.join('/')} requests on 8 connections; client churn ${clientN.join('/')} connections, 16 at a time`,
  );
  /** counts[case][variant][rep] = { n1, n2, perOp } */
  const counts = {};
  const tasks = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const name of selected) {
      const c = CASES[name];
      const only = process.env.BENCH_INSTR_VARIANTS?.split(',');
      const variants = Object.keys(c.variants).filter((v) => only === undefined || only.includes(v));
      counts[name] ??= Object.fromEntries(variants.map((v) => [v, []]));
      const order = variants.map((_, i) => variants[(i + rep) % variants.length]);
      for (const v of order) {
        const [env, nodeArgs] = c.variants[v];
        for (const [i, n] of c.n.entries()) {
          tasks.push(async () => {
            const label = `${name}-${v}-r${rep + 1}-n${n}`;
            const run = c.side === 'server' ? serverRun : clientRun;
            const r = await run(counter, { ...c, concurrency: knob('INSTR_CONCURRENCY', c.concurrency) }, env, nodeArgs, n, label);
            const slot = (counts[name][v][rep] ??= { errors: 0 });
            slot[i === 0 ? 'n1' : 'n2'] = r.instructions;
            slot.errors += r.errors;
            if (slot.n1 !== undefined && slot.n2 !== undefined) {
              slot.perOp = (slot.n2 - slot.n1) / (c.n[1] - c.n[0]);
              slot.fixed = slot.n1 - slot.perOp * c.n[0];
              console.log(
                `    ${name.padEnd(13)} ${v.padEnd(22)} run ${rep + 1}: ${k(slot.perOp).padStart(8)} instructions per ${c.unit}${slot.errors ? `  errors ${slot.errors}` : ''}`,
              );
            }
          });
        }
      }
    }
  }
  try {
    await pool(tasks, jobs);
  } finally {
    counter.close();
  }

  const per = (name, v) => counts[name][v].map((s) => s.perOp);
  const med = (name, v) => median(per(name, v));
  const errors = (name, v) => counts[name][v].reduce((n, s) => n + s.errors, 0);
  const ratios = (name, a, b) => counts[name][a].map((s, i) => s.perOp / counts[name][b][i].perOp);
  const spread = (name, v) => {
    const p = per(name, v);
    return (Math.max(...p) - Math.min(...p)) / median(p);
  };
  const summary = {};
  for (const name of selected) {
    summary[name] = {};
    for (const v of Object.keys(counts[name])) {
      summary[name][v] = { perOp: med(name, v), runs: counts[name][v], spread: spread(name, v) };
      console.log(
        `    median ${name.padEnd(13)} ${v.padEnd(22)} ${k(med(name, v)).padStart(8)} per ${CASES[name].unit} (run-to-run spread ${(spread(name, v) * 100).toFixed(2)}%)`,
      );
    }
  }
  figure.note('instructions', summary);

  const describe = (name, a, b) => {
    const control = name === 'client-churn' ? ['sdk-control', 'sdk'] : ['bare-control', 'bare'];
    const aa = measured(name, ...control) ? ratios(name, ...control) : [NaN];
    const r = ratios(name, a, b);
    return (
      `${k(med(name, a))} vs ${k(med(name, b))} instructions per ${CASES[name].unit} (+${k(med(name, a) - med(name, b))}); ` +
      `ratio per run ${range(r)}; run-to-run spread ${(spread(name, a) * 100).toFixed(2)}% and ${(spread(name, b) * 100).toFixed(2)}%; ` +
      `A/A control (${control[0]} / ${control[1]}) ${median(aa).toFixed(3)}, per run ${range(aa)}`
    );
  };
  const measured = (name, ...variants) => counts[name] !== undefined && variants.every((v) => counts[name][v]?.length > 0);
  const budgeted = (id, name, a, b, label, budget, strict = false) => {
    if (!measured(name, a, b)) return;
    const ratio = median(ratios(name, a, b));
    const pass = (strict ? ratio < budget : ratio <= budget) && errors(name, a) === 0 && errors(name, b) === 0;
    figure.check({
      figure: id,
      what: `instructions per ${CASES[name].unit}, ${label}`,
      budget: `${strict ? '<' : '<='} ${budget.toFixed(2)}`,
      measured: ratio.toFixed(3),
      pass,
      detail: describe(name, a, b),
    });
  };
  const stated = (id, name, a, b, label) => {
    if (!measured(name, a, b)) return;
    figure.stated(id, `instructions per ${CASES[name].unit}, ${label}`, median(ratios(name, a, b)).toFixed(3), describe(name, a, b));
  };

  budgeted('8a', 'server-churn', 'socklife', 'bare', 'server churn, no SDK: socklife / bare server', 1.05);
  budgeted('8a', 'server-churn', 'sdk+socklife', 'sdk', 'server churn, real SDK, default span policy: SDK+socklife / SDK only', 1.05);
  stated('8a', 'server-churn', 'bare-control', 'bare', "server churn, A/A control: bare / bare (this method's noise)");
  stated('8a', 'server-churn', 'sdk', 'bare', 'server churn, the SDK alone / bare server');
  stated(
    '8a',
    'server-churn',
    'observer-floor',
    'bare',
    'server churn, the observer floor (diagnostics_channel, one emit wrapper, four timestamps) / bare server',
  );
  stated('8a', 'server-churn', 'socklife', 'observer-floor', 'server churn, no SDK: socklife / the observer floor');
  stated(
    '8a',
    'server-churn',
    'socklife',
    'socklife-norequests',
    'server churn, following requests (one per connection): socklife / socklife with followRequests: false',
  );
  stated('8a', 'server-churn', 'socklife-norequests', 'observer-floor', 'server churn, no SDK, without following requests: socklife / the observer floor');
  stated(
    '8a',
    'server-churn',
    'model-floor',
    'observer-floor',
    "server churn, the model floor (each event's state and time, live counts by state, both FINs with their byte counters, end()/destroy() times, the close's reason and bytes) / the observer floor",
  );
  stated('8a', 'server-churn', 'socklife-norequests', 'model-floor', 'server churn, no SDK, without following requests: socklife / the model floor');
  stated(
    '8a',
    'server-churn',
    'model-floor+request-floor',
    'bare',
    "server churn, the model floor plus the request floor (each connection's one request followed the least way) / bare server: the floor under socklife's default",
  );
  stated('8a', 'server-churn', 'socklife', 'model-floor+request-floor', 'server churn, no SDK: socklife / the model and request floors');
  stated(
    '8a',
    'server-churn',
    'model-floor+request-floor+native-resource',
    'bare',
    "server churn, the floors of every part of socklife's default without an SDK (the model floor, the request floor, the event-loop delay monitor it runs while the process listens) / bare server",
  );
  stated(
    '8a',
    'server-churn',
    'socklife',
    'model-floor+request-floor+native-resource',
    'server churn, no SDK: socklife / the floors of all its parts (its structure)',
  );
  stated('8a', 'server-churn', 'sdk+native-resource', 'sdk', `server churn, ${NATIVE_RESOURCE_FLOOR}`);
  stated(
    '8a',
    'server-churn',
    'sdk+native-resource+peer-read',
    'sdk',
    "server churn, that plus the peer's address read at accept / SDK only (the floor under the default span policy, which records every connection)",
  );
  stated('8a', 'server-churn', 'sdk+socklife', 'sdk+native-resource+peer-read', 'server churn, real SDK, default span policy: SDK+socklife / that floor');
  stated(
    '8a',
    'server-churn',
    'sdk+native-resource+peer-read+model-floor+request-floor',
    'sdk',
    'server churn, the floors of every part of the default policy with an SDK (the stall monitor, the peer read, the model floor, the request floor) / SDK only',
  );
  stated(
    '8a',
    'server-churn',
    'sdk+socklife',
    'sdk+native-resource+peer-read+model-floor+request-floor',
    'server churn, real SDK, default span policy: SDK+socklife / the floors of all its parts (its structure)',
  );
  stated('8a', 'server-churn', 'sdk+socklife-findings', 'sdk', 'server churn, real SDK, spans: findings (no connection recorded): SDK+socklife / SDK only');
  budgeted('8b', 'keepalive', 'socklife', 'bare', 'keep-alive, no SDK: socklife / bare server', 1.01);
  budgeted('8b', 'keepalive', 'sdk+socklife', 'sdk', 'keep-alive, real SDK, default span policy: SDK+socklife / SDK only', 1.01);
  stated('8b', 'keepalive', 'bare-control', 'bare', "keep-alive, A/A control: bare / bare (this method's noise)");
  budgeted(
    '8b',
    'keepalive',
    'socklife',
    'socklife-norequests',
    'keep-alive, no SDK, following requests: socklife / socklife with followRequests: false',
    1.01,
  );
  budgeted(
    '8b',
    'keepalive',
    'sdk+socklife',
    'sdk+socklife-norequests',
    'keep-alive, real SDK, following requests: SDK+socklife / SDK+socklife with followRequests: false',
    1.01,
  );
  stated(
    '8b',
    'keepalive',
    'socklife-norequests+request-floor',
    'socklife-norequests',
    "keep-alive, the floor under following requests (an http.Server emit wrapper writing a request's method, target and time, and the response.finish channel) / socklife with followRequests: false",
  );
  stated(
    '8b',
    'keepalive',
    'socklife',
    'socklife-norequests+request-floor',
    'keep-alive, no SDK: socklife / socklife without request following plus that floor',
  );
  stated('8b', 'keepalive', 'sdk+native-resource', 'sdk', `keep-alive, ${NATIVE_RESOURCE_FLOOR}`);
  budgeted(
    '8c',
    'client-churn',
    'sdk+socklife',
    'sdk+net',
    'client churn, SDK+socklife (default policy, creation stacks on) / SDK+instrumentation-net',
    1,
    true,
  );
  stated('8c', 'client-churn', 'sdk-control', 'sdk', "client churn, A/A control: SDK / SDK (this method's noise)");
  stated('8c', 'client-churn', 'sdk+socklife-nostacks', 'sdk+net', 'client churn, socklife with captureStacks: false / SDK+instrumentation-net');
  stated('8c', 'client-churn', 'sdk+socklife', 'sdk+socklife-nostacks', 'client churn, socklife with creation stacks / without (what the stacks cost)');
  stated(
    '8c',
    'client-churn',
    'sdk+net+stacks',
    'sdk+net',
    "client churn, instrumentation-net plus V8's capture of the same creation stack, nothing kept / instrumentation-net (the floor under stacks)",
  );
  if (measured('client-churn', 'sdk', 'sdk+net', 'sdk+socklife', 'sdk+socklife-nostacks', 'sdk+net+stacks')) {
    const over = (v) => k(med('client-churn', v) - med('client-churn', 'sdk'));
    figure.note('clientAddedPerConnection', {
      net: med('client-churn', 'sdk+net') - med('client-churn', 'sdk'),
      socklife: med('client-churn', 'sdk+socklife') - med('client-churn', 'sdk'),
      socklifeNoStacks: med('client-churn', 'sdk+socklife-nostacks') - med('client-churn', 'sdk'),
      rawStackCapture: med('client-churn', 'sdk+net+stacks') - med('client-churn', 'sdk+net'),
    });
    console.log(
      `    added per client connection over the SDK alone: instrumentation-net +${over('sdk+net')}, socklife +${over('sdk+socklife')} (stacks off +${over('sdk+socklife-nostacks')})`,
    );
  }
});
