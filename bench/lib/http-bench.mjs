// Figures 1 and 2: HTTP servers (bench/programs/http-server.cjs) pinned to CPU 0, wrk in a
// separate process pinned to CPU 1. Variants of the same server:
//   bare          node http-server.cjs
//   bare-control  the same again: an A/A control that shows this machine's noise floor
//   socklife      node --require socklife/register http-server.cjs            (no SDK)
//   sdk           node --require ./bench/lib/sdk.cjs http-server.cjs         (the SDK, no socklife)
//   sdk+socklife  node --require ./bench/lib/sdk.cjs --require socklife/register http-server.cjs
//   socklife-source-none  socklife with SOCKLIFE_SOURCE=none (stated: the cost of the kernel source)
//   sdk+one-span  the SDK and a minimal instrumentation making one empty span per accepted
//                 connection (figure 1 only, stated: what the SDK charges for one span a connection)
//   socklife-poll-60s  socklife polling once a minute (figure 1 only, stated: what the interval buys)
// socklife runs with its defaults (poll every 5 s, stacks on, source auto). Every variant
// runs in `instances` processes at once; wrk bursts alternate between them (see ab.mjs).
import { interleave, knob, pairedRatio } from './ab.mjs';
import { NodeChild, ONE_SPAN, SDK, SOCKLIFE } from './child.mjs';
import { fmt, fmtMs, median } from './stats.mjs';
import { hasWrk, runWrk } from './wrk.mjs';

export const VARIANTS = {
  bare: [],
  'bare-control': [],
  socklife: SOCKLIFE,
  sdk: SDK,
  'sdk+socklife': [...SDK, ...SOCKLIFE],
  // Stated, not budgeted: what the `source` knob changes (no kernel source: no ss, execa never loaded).
  'socklife-source-none': SOCKLIFE,
  'sdk+one-span': [...SDK, ...ONE_SPAN],
  // Stated: what a longer poll interval buys (one poll a minute instead of every 5 s).
  'socklife-poll-60s': SOCKLIFE,
};
const VARIANT_ENV = { 'socklife-source-none': { SOCKLIFE_SOURCE: 'none' }, 'socklife-poll-60s': { SOCKLIFE_POLL_INTERVAL_MS: '60000' } };

const SERVER_CPU = 0;
const LOAD_CPU = 1;

/**
 * Variants compared without an SDK, and with one. Each group runs on its own (its processes
 * only), with its own A/A control, so that an idle SDK+socklife server, which keeps following
 * its closed connections with polls, is not running while the servers without an SDK are
 * measured. (One run without the SDK servers measured 1a at 1.04; the next full run with the
 * groups apart, at 0.86: the split did not explain the spread of 1a.)
 */
export const GROUPS = {
  'no SDK': ['bare', 'bare-control', 'socklife', 'socklife-source-none'],
  SDK: ['bare', 'bare-control', 'sdk', 'sdk+socklife'],
};

/**
 * @param {import('./report.mjs').Figure} figure
 * @param {{ keepAlive: boolean, connections: number, seconds: number, warmupSeconds: number, cycles: number, instances: number }} o
 * @param {string} group a label for the notes
 * @param {string[]} variants the variants run together (interleaved), keys of VARIANTS
 */
export async function httpRuns(figure, o, group, variants) {
  if (!(await hasWrk())) throw new Error('wrk is not installed (Debian/Ubuntu: apt-get install -y wrk)');
  const headers = o.keepAlive ? [] : ['Connection: close'];
  const wrk = (port, seconds) => runWrk({ url: `http://127.0.0.1:${port}/`, connections: o.connections, seconds, headers, cpu: LOAD_CPU });
  figure.note(
    'load',
    `wrk -t1 -c${o.connections} -d${o.seconds}s --latency${o.keepAlive ? '' : " -H 'Connection: close'"}, pinned to CPU ${LOAD_CPU}; servers pinned to CPU ${SERVER_CPU}; ${o.instances} processes per variant, each warmed up with ${o.warmupSeconds} s of load; ${o.cycles} cycles of one burst per variant`,
  );
  const results = await interleave({
    variants,
    instances: o.instances,
    cycles: o.cycles,
    async start(variant, k) {
      const server = new NodeChild('http-server.cjs', { nodeArgs: VARIANTS[variant], env: VARIANT_ENV[variant], cpu: SERVER_CPU, profile: true, label: `http-${variant}-${k}` });
      const { port } = await server.waitForType('ready', 30_000);
      await wrk(port, o.warmupSeconds);
      return { server, port };
    },
    async burst({ server, port }) {
      const before = await server.request({ cmd: 'stats' });
      const w = await wrk(port, o.seconds);
      const after = await server.request({ cmd: 'stats' });
      const ownUs = after.cpu.ownUs - before.cpu.ownUs;
      const childrenUs = after.cpu.childrenUs - before.cpu.childrenUs;
      const errorCount = w.errors.connect + w.errors.read + w.errors.write + w.errors.timeout + w.non2xx;
      return { ...w, errorCount, cpuUsPerRequest: (ownUs + childrenUs) / w.requests, childCpuUsPerRequest: childrenUs / w.requests, spans: after.sdk?.byName };
    },
    stop: ({ server }) => server.stop(),
    log(variant, cycle, r) {
      if (process.env.BENCH_VERBOSE !== '1' && cycle !== 0) return;
      console.log(`    cycle ${cycle + 1} ${variant.padEnd(20)} ${fmt(r.rps).padStart(7)} req/s  p99 ${fmtMs(r.p99)}  server CPU ${fmt(r.cpuUsPerRequest)} µs/req${r.errorCount ? `  errors ${r.errorCount}` : ''}`);
    },
  });
  const summary = {};
  for (const [variant, runs] of Object.entries(results)) {
    summary[variant] = {
      rps: median(runs.map((r) => r.rps)),
      p99: median(runs.map((r) => r.p99)),
      cpuUsPerRequest: median(runs.map((r) => r.cpuUsPerRequest)),
      childCpuUsPerRequest: runs.reduce((a, r) => a + r.childCpuUsPerRequest * r.requests, 0) / runs.reduce((a, r) => a + r.requests, 0),
      spans: runs.at(-1)?.spans,
      runs: runs.map(({ rps, p50, p99, cpuUsPerRequest, childCpuUsPerRequest, errorCount }) => ({ rps, p50, p99, cpuUsPerRequest, childCpuUsPerRequest, errorCount })),
    };
  }
  for (const [variant, s] of Object.entries(summary)) {
    console.log(`    median ${`${variant} (${group})`.padEnd(28)} ${fmt(s.rps).padStart(7)} req/s  p99 ${fmtMs(s.p99)}  server CPU ${fmt(s.cpuUsPerRequest)} µs/req (of which ss ${fmt(s.childCpuUsPerRequest)})${s.spans ? `  spans exported by the last burst's process: ${JSON.stringify(s.spans)}` : ''}`);
  }
  figure.note(`runs (${group})`, summary);
  return {
    results,
    summary,
    compare(instrumented, baseline) {
      const rps = pairedRatio(results[instrumented], results[baseline], (r) => r.rps);
      const p99 = pairedRatio(results[instrumented], results[baseline], (r) => r.p99);
      const errors = results[instrumented].reduce((n, r) => n + r.errorCount, 0);
      return { rps, p99, errors };
    },
    detail(instrumented, baseline) {
      const c = this.compare(instrumented, baseline);
      const control = this.compare('bare-control', 'bare');
      const s = (v) => summary[v];
      return (
        `median of ${c.rps.ratios.length} paired ratios, middle half ${quartiles(c.rps.ratios)}; A/A control (two bare servers) ${control.rps.ratio.toFixed(3)}, middle half ${quartiles(control.rps.ratios)}; ` +
        `medians ${fmt(s(instrumented).rps)} vs ${fmt(s(baseline).rps)} req/s; server CPU ${fmt(s(instrumented).cpuUsPerRequest)} vs ${fmt(s(baseline).cpuUsPerRequest)} µs per request (ss runs ${fmt(s(instrumented).childCpuUsPerRequest)} µs of it)` +
        (c.errors ? `; ${c.errors} socket errors` : '')
      );
    },
  };
}

function quartiles(values) {
  const v = [...values].sort((a, b) => a - b);
  const q = (p) => v[Math.min(v.length - 1, Math.max(0, Math.round((v.length - 1) * p)))];
  return `${q(0.25).toFixed(3)}–${q(0.75).toFixed(3)}`;
}

export function defaultsFor(keepAlive) {
  return {
    keepAlive,
    connections: knob(keepAlive ? 'KEEPALIVE_CONNECTIONS' : 'CLOSE_CONNECTIONS', keepAlive ? 8 : 32),
    seconds: knob('SECONDS', 1),
    warmupSeconds: knob('WARMUP_SECONDS', 1),
    cycles: knob('CYCLES', 12),
    instances: knob('INSTANCES', 3),
  };
}
