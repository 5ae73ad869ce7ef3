// Figures 1 and 2: an HTTP server (bench/programs/http-server.cjs: the minimal handler) pinned
// to CPU 0, wrk in a separate process pinned to CPU 1. Variants of the same server:
//   bare          node http-server.cjs
//   bare-control  the same again: an A/A control that shows this machine's noise floor
//   socklife      node --require socklife/register http-server.cjs            (no SDK)
//   socklife-source-none  socklife with SOCKLIFE_SOURCE=none (stated: the cost of the kernel source)
//   socklife-no-requests  socklife with SOCKLIFE_FOLLOW_REQUESTS=false: the baseline of what following requests costs
//   sdk           node --require ./bench/lib/sdk.cjs http-server.cjs         (the SDK, no socklife)
//   sdk+socklife  the SDK and socklife with its defaults (spans: anomalies)
//   sdk+socklife-findings, sdk+socklife-all   the other span policies
//   sdk+one-span  the SDK and a minimal instrumentation making one empty span per accepted
//                 connection: the floor under any per-connection span
//   sdk+two-spans the same with two empty spans, a parent and its child: the span count of
//                 `spans: all` on a server (tcp.connection, tcp.half_close)
//   observer-floor  the least a socket-lifecycle observer does, no SDK: every socket from
//                 diagnostics_channel, four timestamps on it from one emit wrapper
//
// How a figure is measured (and why): ONE server process runs at a time. Each run starts a
// fresh server in a network namespace of its own, warms it up, measures it, and stops it;
// a round runs every variant once, in an order rotated per round, and each comparison is the
// median over rounds of the per-round ratio. The primary figure is the server's own CPU per
// request (user + sys from its own counters, plus any ss it ran); requests/s is second.
// Earlier versions kept three long-lived servers per variant side by side on the server CPU
// and loaded them in turn, all in one namespace: the idle servers (their GC and timers, and
// the SDK ones' exports), the TIME_WAIT sockets every earlier burst left in the shared kernel
// tables, and a heavier handler inflated the baseline and hid much of socklife's cost.
import { alternate, knob, pairedRatio } from './ab.mjs';
import { inNetnsOf, NodeChild, OBSERVER_FLOOR, ONE_SPAN, SDK, SOCKLIFE, TWO_SPANS } from './child.mjs';
import { fmt, fmtMs, median } from './stats.mjs';
import { hasWrk, runWrk } from './wrk.mjs';

export const VARIANTS = {
  bare: [],
  'bare-control': [],
  socklife: SOCKLIFE,
  'socklife-source-none': SOCKLIFE,
  'socklife-no-requests': SOCKLIFE,
  sdk: SDK,
  'sdk+socklife': [...SDK, ...SOCKLIFE],
  'sdk+socklife-findings': [...SDK, ...SOCKLIFE],
  'sdk+socklife-all': [...SDK, ...SOCKLIFE],
  'sdk+one-span': [...SDK, ...ONE_SPAN],
  'sdk+two-spans': [...SDK, ...TWO_SPANS],
  'observer-floor': OBSERVER_FLOOR,
};
const VARIANT_ENV = {
  'socklife-source-none': { SOCKLIFE_SOURCE: 'none' },
  'socklife-no-requests': { SOCKLIFE_FOLLOW_REQUESTS: 'false' },
  'sdk+socklife-findings': { SOCKLIFE_SPANS: 'findings' },
  'sdk+socklife-all': { SOCKLIFE_SPANS: 'all' },
};

const SERVER_CPU = 0;
const LOAD_CPU = 1;

/**
 * @param {import('./report.mjs').Figure} figure
 * @param {{ keepAlive: boolean, connections: number, seconds: number, warmupSeconds: number, rounds: number }} o
 * @param {string[]} variants keys of VARIANTS, one fresh process each per round
 */
export async function httpRuns(figure, o, variants) {
  if (!(await hasWrk())) throw new Error('wrk is not installed (Debian/Ubuntu: apt-get install -y wrk)');
  const headers = o.keepAlive ? [] : ['Connection: close'];
  const wrk = (server, port, seconds) =>
    runWrk({ url: `http://127.0.0.1:${port}/`, connections: o.connections, seconds, headers, cpu: LOAD_CPU, prefix: inNetnsOf(server) });
  figure.note(
    'load',
    `wrk -t1 -c${o.connections} -d${o.seconds}s --latency${o.keepAlive ? '' : " -H 'Connection: close'"}, pinned to CPU ${LOAD_CPU}; the server pinned to CPU ${SERVER_CPU}, alone: one server process at a time, each started fresh in its own network namespace, warmed up with ${o.warmupSeconds} s of the same load, measured once, stopped; ${o.rounds} rounds, each running every variant once in an order rotated per round`,
  );
  const results = await alternate({
    variants,
    reps: o.rounds,
    async run(variant) {
      const server = new NodeChild('http-server.cjs', {
        nodeArgs: VARIANTS[variant],
        env: VARIANT_ENV[variant],
        cpu: SERVER_CPU,
        profile: true,
        label: `http-${variant}`,
        netns: 'new',
      });
      try {
        const { port } = await server.waitForType('ready', 30_000);
        await wrk(server, port, o.warmupSeconds);
        const before = await server.request({ cmd: 'stats' });
        const w = await wrk(server, port, o.seconds);
        const after = await server.request({ cmd: 'stats' });
        const ownUs = after.cpu.ownUs - before.cpu.ownUs;
        const childrenUs = after.cpu.childrenUs - before.cpu.childrenUs;
        const errorCount = w.errors.connect + w.errors.read + w.errors.write + w.errors.timeout + w.non2xx;
        return {
          ...w,
          errorCount,
          cpuUsPerRequest: (ownUs + childrenUs) / w.requests,
          childCpuUsPerRequest: childrenUs / w.requests,
          spans: after.sdk?.byName,
        };
      } finally {
        await server.stop();
      }
    },
    log(variant, round, r) {
      if (process.env.BENCH_VERBOSE !== '1' && round !== 0) return;
      console.log(
        `    round ${round + 1} ${variant.padEnd(22)} ${fmt(r.rps).padStart(7)} req/s  p99 ${fmtMs(r.p99)}  server CPU ${fmt(r.cpuUsPerRequest)} µs/req${r.errorCount ? `  errors ${r.errorCount}` : ''}`,
      );
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
      runs: runs.map(({ rps, p50, p99, requests, cpuUsPerRequest, childCpuUsPerRequest, errorCount }) => ({
        rps,
        p50,
        p99,
        requests,
        cpuUsPerRequest,
        childCpuUsPerRequest,
        errorCount,
      })),
    };
  }
  for (const [variant, s] of Object.entries(summary)) {
    console.log(
      `    median ${variant.padEnd(22)} ${fmt(s.rps).padStart(7)} req/s  p99 ${fmtMs(s.p99)}  server CPU ${fmt(s.cpuUsPerRequest)} µs/req (of which ss ${fmt(s.childCpuUsPerRequest)})${s.spans ? `  spans exported by the last run: ${JSON.stringify(s.spans)}` : ''}`,
    );
  }
  figure.note('runs', summary);
  return {
    results,
    summary,
    /** Median over rounds of the per-round ratios, CPU per request (primary) and requests/s. */
    compare(instrumented, baseline) {
      const cpu = pairedRatio(results[instrumented], results[baseline], (r) => r.cpuUsPerRequest);
      const rps = pairedRatio(results[instrumented], results[baseline], (r) => r.rps);
      const errors = results[instrumented].reduce((n, r) => n + r.errorCount, 0);
      return { cpu, rps, errors };
    },
    detail(instrumented, baseline) {
      const c = this.compare(instrumented, baseline);
      const control = results['bare-control'] ? this.compare('bare-control', 'bare') : undefined;
      const s = (v) => summary[v];
      return (
        `median of ${c.cpu.ratios.length} per-round ratios, middle half ${quartiles(c.cpu.ratios)}` +
        (control ? `; A/A control (two bare servers) ${control.cpu.ratio.toFixed(3)}, middle half ${quartiles(control.cpu.ratios)}` : '') +
        `; server CPU ${fmt(s(instrumented).cpuUsPerRequest)} vs ${fmt(s(baseline).cpuUsPerRequest)} µs per request (ss ${fmt(s(instrumented).childCpuUsPerRequest)} µs of it)` +
        `; requests/s ratio ${c.rps.ratio.toFixed(3)} (${fmt(s(instrumented).rps)} vs ${fmt(s(baseline).rps)})` +
        (c.errors ? `; ${c.errors} socket errors` : '')
      );
    },
  };
}

export function quartiles(values) {
  const v = [...values].sort((a, b) => a - b);
  const q = (p) => v[Math.min(v.length - 1, Math.max(0, Math.round((v.length - 1) * p)))];
  return `${q(0.25).toFixed(3)}–${q(0.75).toFixed(3)}`;
}

export function defaultsFor(keepAlive) {
  return {
    keepAlive,
    connections: knob(keepAlive ? 'KEEPALIVE_CONNECTIONS' : 'CLOSE_CONNECTIONS', keepAlive ? 8 : 32),
    seconds: knob('SECONDS', 2),
    warmupSeconds: knob('WARMUP_SECONDS', 1),
    rounds: Math.max(5, knob('ROUNDS', 5)),
  };
}
