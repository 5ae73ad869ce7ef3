// Figure 4: what a poll costs the event loop at 1k, 10k and 50k CLOSE_WAIT sockets.
//
// The measured process (bench/programs/cw-holder.cjs, CPU 0) runs socklife in-process
// (pollIntervalMs 1000, source ss, a threshold no socket reaches) and holds server sockets
// in CLOSE_WAIT: it accepts with allowHalfOpen, reads to EOF and never ends. The far ends
// (FIN_WAIT_2) live in separate client processes (CPU 1). A poll asks ss for the CLOSE_WAIT
// sockets on the server's port, so every held socket is a row of every poll.
//
// One process may open 20,000 files on this machine (the hard RLIMIT_NOFILE, which only
// CAP_SYS_RESOURCE can raise), so beyond 16,000 sockets the extra ones are held by sibling
// processes listening on the same port on other loopback addresses (127.0.0.2, ...): ss's
// port filter returns them too, and the measured process parses and correlates every row
// (rows of other processes find no record, as in a multi-process server).
//
// Budgets:
//   event-loop time per poll (parse + correlate) <= 0.5 x the time ss itself takes for the
//   same query (ss run from the orchestrator, wall time from spawn to exit, median of 5);
//   added event-loop delay p99 (monitorEventLoopDelay, 1 ms resolution) <= 5 ms at 10k
//   sockets, against the same process and sockets without socklife.
import { spawnSync } from 'node:child_process';
import { knob } from './lib/ab.mjs';
import { NodeChild, stopAll } from './lib/child.mjs';
import { Figure, runFigure } from './lib/report.mjs';
import { fmt, fmtMs, max, median } from './lib/stats.mjs';

const OWN_MAX = knob('POLL_OWN_MAX', 16_000);
const POLL_MS = knob('POLL_INTERVAL_MS', 1000);
const SIZES = (process.env.BENCH_POLL_SOCKETS ?? '1000,10000,50000').split(',').map(Number);
const DELAY_AT = (process.env.BENCH_DELAY_AT ?? '10000').split(',').map(Number);
const SOCKLIFE_OPTIONS = { pollIntervalMs: POLL_MS, closeWaitThresholdMs: 604_800_000, source: 'ss' };

const figure = new Figure('4-poll-cost', 'polling at 1k, 10k and 50k CLOSE_WAIT sockets: event-loop time per poll and event-loop delay');

function pickPort() {
  return 20_000 + Math.floor(Math.random() * 10_000);
}

/** CLOSE_WAIT rows on a port, as ss counts them. */
function closeWaitCount(port) {
  const r = spawnSync('ss', ['-t', '-n', '-H', 'state', 'close-wait', '(', 'sport', '=', `:${port}`, ')'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  return r.stdout.split('\n').filter((l) => l.trim() !== '').length;
}

/** ss's own wall time for a query: spawn to exit, stdout read, median of `reps`. */
function ssWallTime(argv, reps = 5) {
  const times = [];
  let bytes = 0;
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    const r = spawnSync('ss', argv, { encoding: 'utf8', maxBuffer: 1 << 30, env: { LC_ALL: 'C' } });
    times.push(performance.now() - t);
    if (r.status !== 0) throw new Error(`ss ${argv.join(' ')} failed: ${r.stderr}`);
    bytes = r.stdout.length;
  }
  return { ms: median(times), times, bytes };
}

/**
 * Starts the holders and clients for `total` CLOSE_WAIT sockets on one port: the measured
 * holder (`socklife` options or none) takes up to OWN_MAX, siblings the rest.
 */
async function setUp(total, port, socklife) {
  const children = [];
  try {
    const own = Math.min(total, OWN_MAX);
    const groups = [{ host: '127.0.0.1', count: own, measured: true }];
    for (let rest = total - own, k = 2; rest > 0; k++) {
      const count = Math.min(rest, OWN_MAX);
      groups.push({ host: `127.0.0.${k}`, count, measured: false });
      rest -= count;
    }
    const holders = [];
    let hookProblems = [];
    for (const g of groups) {
      const holder = new NodeChild('cw-holder.cjs', {
        args: [JSON.stringify({ host: g.host, port, socklife: g.measured ? socklife : undefined })],
        cpu: g.measured ? 0 : 1,
        profile: g.measured && socklife !== undefined,
        label: g.measured ? `cw-holder-${socklife ? 'socklife' : 'bare'}-${total}` : `cw-sibling-${g.host}`,
      });
      children.push(holder);
      const ready = await holder.waitForType('ready', 30_000);
      if (ready.hookProblems?.length) hookProblems = ready.hookProblems;
      holders.push(holder);
    }
    const t0 = performance.now();
    // One client process per holder (each far end needs a file too); ephemeral ports are per destination.
    const clients = groups.map((g) => {
      const c = new NodeChild('cw-client.cjs', { args: [JSON.stringify({ host: g.host, port, count: g.count })], cpu: 1, label: `cw-client-${g.host}` });
      children.push(c);
      return c;
    });
    const done = await Promise.all(clients.map((c) => c.waitForType('done', 300_000)));
    const errors = done.reduce((n, d) => n + d.errors, 0);
    if (errors > 0) throw new Error(`${errors} client connections failed`);
    await Promise.all(holders.map((h, i) => h.request({ cmd: 'waitEnded', count: groups[i].count }, 300_000)));
    const setupMs = performance.now() - t0;
    const rows = closeWaitCount(port);
    if (rows < total) throw new Error(`expected ${total} CLOSE_WAIT sockets on port ${port}, ss shows ${rows}`);
    return { measured: holders[0], own, children, setupMs, rows, hookProblems };
  } catch (error) {
    await stopAll(children);
    throw error;
  }
}

await runFigure(figure, async () => {
  figure.note('socklife options', SOCKLIFE_OPTIONS);
  figure.note(
    'file limit',
    'one process may hold at most 16,000 of the sockets (RLIMIT_NOFILE hard limit 20,000); the rest are held by sibling processes on the same port',
  );
  const delayMs = knob('DELAY_WINDOW_MS', 10_000);
  for (const total of SIZES) {
    const label = `${fmt(total / 1000)}k`;
    let port = pickPort();
    let delayBaseline;
    if (DELAY_AT.includes(total)) {
      // The same process and sockets without socklife: the delay socklife adds is the difference.
      const base = await setUp(total, port, undefined);
      try {
        delayBaseline = await base.measured.request({ cmd: 'delay', ms: delayMs }, delayMs + 30_000);
      } finally {
        await stopAll(base.children);
      }
      port = pickPort();
    }
    const s = await setUp(total, port, SOCKLIFE_OPTIONS);
    try {
      console.log(`    ${label}: ${fmt(s.rows)} CLOSE_WAIT rows on port ${port} (measured process holds ${fmt(s.own)}), set up in ${fmtMs(s.setupMs)}`);
      const window = await s.measured.request({ cmd: 'delay', ms: delayMs }, delayMs + 30_000);
      const polls = window.polls.filter((p) => p.rows >= total * 0.99);
      if (polls.length === 0) {
        const hooks = s.hookProblems.length ? `; the timing hooks could not wrap: ${s.hookProblems.join('; ')}` : '';
        throw new Error(
          `no live poll with ${total} rows within ${delayMs} ms (rows of the polls seen: ${window.polls.map((p) => p.rows).join(', ') || 'none'})${hooks}`,
        );
      }
      const { argv } = await s.measured.request({ cmd: 'query' });
      const ss = ssWallTime(argv);
      const direct = await s.measured.request({ cmd: 'direct', argv }, 120_000);

      const perPoll = polls.map((p) => p.parseMs + p.correlateMs);
      const pollMs = median(perPoll);
      const budget = 0.5 * ss.ms;
      figure.check({
        figure: `4-${label}`,
        what: `event-loop time per poll (parse + correlate), ${label} sockets, vs ss's own time for the same rows`,
        budget: `<= 0.5 × ss = ${fmtMs(budget)}`,
        measured: `${fmtMs(pollMs)} (${(pollMs / ss.ms).toFixed(2)} × ss)`,
        pass: pollMs <= budget,
        detail: `median of ${polls.length} live polls: parse ${fmtMs(median(polls.map((p) => p.parseMs)))} + correlate ${fmtMs(median(polls.map((p) => p.correlateMs)))}, worst ${fmtMs(max(perPoll))}; ss ${fmtMs(ss.ms)} for ${fmt(s.rows)} rows (${fmt(ss.bytes / 1024)} KiB), ${fmt(s.own)} of them this process's`,
      });
      const cold = median(direct.parseMs) + direct.coldCorrelateMs;
      figure.check({
        figure: `4-${label}`,
        what: `first poll after ${label} new sockets (parse + correlate, endpoints not yet read)`,
        budget: `<= 0.5 × ss = ${fmtMs(budget)}`,
        measured: `${fmtMs(cold)} (${(cold / ss.ms).toFixed(2)} × ss)`,
        pass: cold <= budget,
        detail: `socklife's parseSs and a fresh ConnectionTracker fed the same sockets: parse ${fmtMs(median(direct.parseMs))}, cold correlate ${fmtMs(direct.coldCorrelateMs)} (getpeername per candidate socket, and getsockname unless its server listens on one address), warm ${fmtMs(median(direct.warmCorrelateMs))}; ${fmt(direct.matched)} rows matched`,
      });
      const wholePoll = median(polls.map((p) => p.pollEluActiveMs));
      figure.stated(
        `4-${label}`,
        `event-loop busy time per whole poll (spawn ss, read its output, parse, correlate), ${label} sockets`,
        fmtMs(wholePoll),
        `event-loop utilisation from runTool() to the end of kernelRows(); median of ${polls.length}; the poll's wall time ${fmtMs(median(polls.map((p) => p.pollWallMs)))}`,
      );
      if (delayBaseline !== undefined) {
        const added = window.p99 - delayBaseline.p99;
        figure.check({
          figure: `4-${label}`,
          what: `added event-loop delay p99, ${label} sockets, poll every ${POLL_MS} ms`,
          budget: '<= 5 ms',
          measured: fmtMs(Math.max(0, added)),
          pass: added <= 5,
          detail: `monitorEventLoopDelay over ${delayMs / 1000} s, resolution 1 ms: p99 ${fmtMs(window.p99)} with socklife vs ${fmtMs(delayBaseline.p99)} without; max ${fmtMs(window.max)} vs ${fmtMs(delayBaseline.max)}; ${window.polls.length} polls in the window`,
        });
      } else {
        figure.stated(
          `4-${label}`,
          `event-loop delay p99 / max with socklife, ${label} sockets, poll every ${POLL_MS} ms`,
          `${fmtMs(window.p99)} / ${fmtMs(window.max)}`,
          `monitorEventLoopDelay over ${delayMs / 1000} s; no baseline run at this size`,
        );
      }
      figure.note(`${label}`, {
        rows: s.rows,
        own: s.own,
        setupMs: s.setupMs,
        ss,
        argv,
        direct,
        polls,
        window: { ...window, polls: undefined },
        delayBaseline: delayBaseline && { ...delayBaseline, polls: undefined },
      });
    } finally {
      await stopAll(s.children);
    }
  }
});
