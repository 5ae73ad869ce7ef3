// Figure 7: the kernel-table parsers' time is linear in their input.
//
// Each parser (ss, /proc/net/tcp, netstat for Linux and BSD) is given ten times the bytes of a
// first run, in two shapes: one line whose one field (an address, a number, a state) is enormous,
// and many short tokens or many lines, which tokenize and parse fields at every step. Linear work
// takes about ten times as long for ten times the input; quadratic work about a hundred times.
//
// Time is this process's CPU time (process.cpuUsage), so that other processes on a loaded
// machine do not count, on a clean heap (the garbage of making the input is not the parser's).
// A small run parses `large / small` inputs of the small size one after the other and counts a
// share of its time, so that both sides are timed over as many bytes and as long a window: a
// short run can fall into a quiet moment that a long one never gets. Each input is a string of
// its own: V8 caches what `split` made of a string, so a second parse of the same one is faster.
// Each side is the best of several runs.
//
// Budgets (time for 10x the bytes over time for 1x):
//   one enormous field, 5 MB -> 50 MB: < 20
//   many tokens or lines, 0.25 MB -> 2.5 MB: < 30 (hundreds of thousands of rows or tokens kept
//   alive while parsing make V8's collector work a little more than linearly; still far below
//   the hundredfold of quadratic work)
//
// Runs in this process against the snapshot of dist/ (no child process, no network).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { runFigure, Figure } from './lib/report.mjs';
import { snapshot } from './lib/snapshot.mjs';

const MB = 1024 * 1024;
const kernel = `${await snapshot()}node_modules/socklife/dist/esm/observe/kernel/`;
const { parseSs } = await import(`${kernel}ss-parser.js`);
const { parseProcNetTcp } = await import(`${kernel}proc-net-tcp-parser.js`);
const { parseNetstatBsd, parseNetstatLinux } = await import(`${kernel}netstat-parser.js`);

/** `unit` repeated (no newline) to `bytes`, as one flat string (so that no run pays for flattening it). */
function fill(unit, bytes) {
  return Buffer.alloc(bytes, unit, 'latin1').toString('latin1');
}

/** One line: a row's first fields, then one enormous field where an address, number or state goes. */
const ENORMOUS_FIELD = [
  { name: 'parseSs, an enormous address', parse: (t) => parseSs(t), input: (n) => `ESTAB 0 0 127.0.0.1:1 [${fill('f:', n)}]:80 ino:1` },
  {
    name: 'parseSs, an enormous tcp_info value (read)',
    parse: (t) => {
      const result = parseSs(t);
      void result.rows[0]?.tcpInfo;
      return result;
    },
    input: (n) => `ESTAB 0 0 127.0.0.1:1 127.0.0.1:2\n\trtt:${fill('1', n)}/0.5 cwnd:10`,
  },
  { name: 'parseSs, an enormous timer', parse: (t) => parseSs(t), input: (n) => `ESTAB 0 0 127.0.0.1:1 127.0.0.1:2 timer:(on,${fill('1', n)}ms,0)` },
  {
    name: 'parseProcNetTcp, an enormous address',
    parse: (t) => parseProcNetTcp(t),
    input: (n) => `0: ${fill('0', n)}:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1`,
  },
  { name: 'parseNetstatLinux, an enormous address', parse: parseNetstatLinux, input: (n) => `tcp 0 0 ${fill('1.', n)}:80 0.0.0.0:* LISTEN` },
  { name: 'parseNetstatBsd, an enormous address', parse: parseNetstatBsd, input: (n) => `tcp4 0 0 ${fill('1.', n)}.80 *.* LISTEN` },
];

/** One line of many short tokens, or many lines: tokenizing and field parsing at every step. */
const MANY_TOKENS = [
  {
    name: 'parseSs, many lines',
    parse: (t) => parseSs(t),
    input: (n) => fill('ESTAB 0 0 127.0.0.1:8080 127.0.0.1:40000 ino:1 timer:(on,1ms,0)\n\trtt:0.1/0.05 cwnd:10\n', n),
  },
  {
    name: 'parseProcNetTcp, many lines',
    parse: (t) => parseProcNetTcp(t),
    input: (n) => fill('0: 0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000 0 0 1 1\n', n),
  },
  {
    name: 'parseSs, one line of many tokens',
    parse: (t) => parseSs(t),
    input: (n) => fill('ESTAB 0 0 [fe80::1]%eth0:8080 127.0.0.1:* ino:1 timer:(on,1min5sec,0) ', n),
  },
  {
    name: 'parseProcNetTcp, one line of many tokens',
    parse: (t) => parseProcNetTcp(t),
    input: (n) => fill('0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 ', n),
  },
  {
    name: 'parseNetstatLinux, one line of many tokens',
    parse: parseNetstatLinux,
    input: (n) => fill('tcp 0 0 127.0.0.1:8080 0.0.0.0:* LISTEN on (0.00/0/0) ', n),
  },
  { name: 'parseNetstatBsd, one line of many tokens', parse: parseNetstatBsd, input: (n) => fill('tcp4 0 0 127.0.0.1.8080 *.* LISTEN ', n) },
];

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');

/** One run's CPU time to parse each of `texts` in turn, on a clean heap. */
function timeMs(parse, texts) {
  gc();
  const started = process.cpuUsage();
  for (const text of texts) parse(text);
  const { user, system } = process.cpuUsage(started);
  return (user + system) / 1000;
}

/** Time for `large` bytes over time for `small` bytes, each the best of `runs`. */
function ratio({ parse, input }, small, large, runs) {
  const copies = Math.round(large / small);
  const best = (bytes, count, n) =>
    Math.min(
      ...Array.from(
        { length: n },
        () =>
          timeMs(
            parse,
            Array.from({ length: count }, () => input(bytes)),
          ) / count,
      ),
    );
  timeMs(parse, [input(small)]); // warm up the code
  const smallMs = best(small, copies, runs.small);
  const largeMs = best(large, 1, runs.large);
  return { ratio: largeMs / Math.max(smallMs, 0.01), smallMs, largeMs };
}

const size = (bytes) => `${bytes / MB} MB`;

/** The worst ratio of a group of cases is the figure; every case's is in the detail. */
function group(figure, cases, small, large, runs, bound, what) {
  const results = cases.map((c) => ({ name: c.name, ...ratio(c, small, large, runs) }));
  const worst = results.reduce((a, b) => (b.ratio > a.ratio ? b : a));
  figure.check({
    figure: '7',
    what: `parse time, ${what}: ${size(large)} over ${size(small)} (worst of ${cases.length} parsers: ${worst.name})`,
    budget: `< ${bound}x (linear ~10x, quadratic ~100x)`,
    measured: `${worst.ratio.toFixed(1)}x`,
    pass: results.every((r) => r.ratio < bound),
    detail: results.map((r) => `${r.name}: ${r.ratio.toFixed(1)}x (${r.smallMs.toFixed(2)} ms, ${r.largeMs.toFixed(2)} ms)`).join('; '),
  });
  figure.note(what, results);
}

const figure = new Figure('7-parse-linearity', 'kernel-table parsers: CPU time for ten times the input');
await runFigure(figure, async () => {
  group(figure, ENORMOUS_FIELD, 5 * MB, 50 * MB, { small: 3, large: 1 }, 20, 'one enormous field');
  group(figure, MANY_TOKENS, MB / 4, (5 * MB) / 2, { small: 5, large: 5 }, 30, 'many tokens or lines');
});
