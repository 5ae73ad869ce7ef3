// The measured process of figure 4 (and its siblings): a server that holds every accepted
// socket in CLOSE_WAIT (allowHalfOpen, read to EOF, never ended). With `socklife` options it
// runs socklife in-process (the CommonJS build), with timing hooks on the poll's stages:
//   runTool (ss through execa)  →  parseSs (parse)  →  ConnectionTracker#kernelRows (correlate)
// The hooks only wrap the exported functions; they change nothing socklife does.
'use strict';
const net = require('node:net');
const { performance, monitorEventLoopDelay } = require('node:perf_hooks');
const { send, serve, run } = require('./ipc.cjs');

const path = require('node:path');
// The build under test (bench/lib/snapshot.mjs), else the repository's own.
const PACKAGE = process.env.BENCH_SOCKLIFE_DIR ?? path.join(__dirname, '../../');
const DIST = path.join(PACKAGE, 'dist/cjs/');
const polls = [];
const hookProblems = [];

function installHooks() {
  let records = [];
  const wrap = (modulePath, owner, name, makeWrapper) => {
    try {
      const target = owner(require(DIST + modulePath));
      if (typeof target?.[name] !== 'function') throw new Error('not a function');
      target[name] = makeWrapper(target[name]);
    } catch (error) {
      hookProblems.push(`${modulePath} ${name}: ${error.message}`);
    }
  };
  wrap(
    'observe/kernel/run-tool.js',
    (m) => m,
    'runTool',
    (original) =>
      async function runTool(source, command, argv) {
        const record = { argv: [...argv], startedAt: performance.now(), elu0: performance.eventLoopUtilization() };
        records.push(record);
        const out = await original.apply(this, arguments);
        record.toolMs = performance.now() - record.startedAt;
        record.bytes = out.length;
        return out;
      },
  );
  wrap(
    'observe/kernel/ss-parser.js',
    (m) => m,
    'parseSs',
    (original) =>
      function parseSs() {
        const t = performance.now();
        const result = original.apply(this, arguments);
        const record = records.findLast((r) => r.parseMs === undefined);
        if (record) {
          record.parseMs = performance.now() - t;
          record.rows = result.rows.length;
        }
        return result;
      },
  );
  wrap(
    'model/tracker.js',
    (m) => m.ConnectionTracker.prototype,
    'kernelRows',
    (original) =>
      function kernelRows() {
        const t = performance.now();
        const result = original.apply(this, arguments);
        const record = records.findLast((r) => r.parseMs !== undefined && r.correlateMs === undefined);
        if (record) {
          record.correlateMs = performance.now() - t;
          record.pollEluActiveMs = performance.eventLoopUtilization(record.elu0).active;
          record.pollWallMs = performance.now() - record.startedAt;
          delete record.elu0;
          polls.push(record);
          records = records.filter((r) => r !== record && performance.now() - r.startedAt < 60_000);
        }
        return result;
      },
  );
}

/** A ConnectionTracker of socklife's own, fed the held sockets, with a listener that does nothing. */
function freshTracker(sockets) {
  const { ConnectionTracker } = require(DIST + 'model/tracker.js');
  const noop = () => {};
  const listener = new Proxy({}, { get: () => noop });
  const tracker = new ConnectionTracker(listener);
  for (const socket of sockets) {
    tracker.socketOpened(socket, 'server', undefined);
    tracker.socketEvent(socket, { type: 'end' });
  }
  return tracker;
}

run(async () => {
  const o = JSON.parse(process.argv[2]);
  if (o.socklife) {
    installHooks();
    require(DIST + 'index.js').instrument(o.socklife);
  }
  const sockets = new Set();
  let ended = 0;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('end', () => {
      ended++;
    });
    socket.resume();
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: o.host, port: o.port, backlog: 4096 }, resolve);
  });
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  serve({
    status: () => ({ accepted: sockets.size, ended, polls: polls.length, hookProblems }),
    async waitEnded({ count, timeoutMs = 120_000 }) {
      const deadline = Date.now() + timeoutMs;
      while (ended < count && Date.now() < deadline) await sleep(20);
      return { ended };
    },
    /** An event-loop delay window (monitorEventLoopDelay, 1 ms resolution) and the live polls inside it. */
    async delay({ ms }) {
      const histogram = monitorEventLoopDelay({ resolution: 1 });
      const first = polls.length;
      const elu0 = performance.eventLoopUtilization();
      histogram.enable();
      await sleep(ms);
      histogram.disable();
      const elu = performance.eventLoopUtilization(elu0);
      return {
        p50: histogram.percentile(50) / 1e6,
        p99: histogram.percentile(99) / 1e6,
        max: histogram.max / 1e6,
        mean: histogram.mean / 1e6,
        eluActiveMs: elu.active,
        polls: polls.slice(first),
      };
    },
    /** parse + correlate on a given ss output, with socklife's own functions, outside the live poll. */
    direct({ argv, reps = 5 }) {
      const { parseSs } = require(DIST + 'observe/kernel/ss-parser.js');
      // The same output a poll gets (ss's run is not timed here).
      const stdout = require('node:child_process').execFileSync('ss', argv, { encoding: 'utf8', maxBuffer: 1 << 30, env: { LC_ALL: 'C' } });
      const parse = [];
      let rows;
      for (let i = 0; i < reps; i++) {
        const t = performance.now();
        rows = parseSs(stdout, { impliedState: 'close_wait' }).rows;
        parse.push(performance.now() - t);
      }
      const tracker = freshTracker(sockets);
      const correlate = [];
      for (let i = 0; i <= reps; i++) {
        const t = performance.now();
        tracker.kernelRows(rows, 'ss', Date.now());
        correlate.push(performance.now() - t);
      }
      const matched = tracker.connectionsIn('close_wait');
      let fresh = 0;
      for (const c of matched) if (c.kernel !== undefined) fresh++;
      return { rows: rows.length, parseMs: parse, coldCorrelateMs: correlate[0], warmCorrelateMs: correlate.slice(1), matched: fresh };
    },
    query() {
      const { ssArguments } = require(DIST + 'observe/kernel/ss-source.js');
      const tracker = freshTracker(sockets);
      return { argv: ssArguments(tracker.portsQuery(['close_wait'])) };
    },
  });
  send({ type: 'ready', port: server.address().port, hookProblems });
});
