import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { parseNetstatBsd, parseNetstatLinux } from '../../src/observe/kernel/netstat-parser.js';
import { parseProcNetTcp } from '../../src/observe/kernel/proc-net-tcp-parser.js';
import type { ParseResult } from '../../src/observe/kernel/rows.js';
import { parseSs } from '../../src/observe/kernel/ss-parser.js';

// Work and memory bounded by the input: a parser's time grows linearly with the bytes it is
// given, even when they come as one enormous line, and it keeps nothing of an output once its
// rows are dropped.

const MB = 1024 * 1024;

interface Case {
  readonly name: string;
  readonly parse: (text: string) => ParseResult;
  /** The input of `bytes` bytes. */
  readonly input: (bytes: number) => string;
}

/** `unit` repeated (no newline) to `bytes`, as one flat string (so that no run pays for flattening it). */
function fill(unit: string, bytes: number): string {
  return Buffer.alloc(bytes, unit, 'latin1').toString('latin1');
}

/** One line: a row's first fields, then one enormous field where an address, number or state goes. */
const ENORMOUS_FIELD: readonly Case[] = [
  { name: 'parseSs, an enormous address', parse: (t) => parseSs(t), input: (n) => `ESTAB 0 0 127.0.0.1:1 [${fill('f:', n)}]:80 ino:1` },
  {
    name: 'parseSs, an enormous tcp_info value (read here)',
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
const MANY_TOKENS: readonly Case[] = [
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
const gc = runInNewContext('gc') as () => void;

/**
 * One run's CPU time (this process's, so that other processes on a loaded machine do not count)
 * to parse each of `texts` in turn, on a clean heap: the garbage of making the input is not the
 * parser's.
 */
function timeMs(parse: (text: string) => ParseResult, texts: readonly string[]): number {
  gc();
  const started = process.cpuUsage();
  for (const text of texts) parse(text);
  const { user, system } = process.cpuUsage(started);
  return (user + system) / 1000;
}

/**
 * Time for `large` bytes over time for `small` bytes, each the best of `runs`. A small run parses
 * `large / small` inputs of `small` bytes one after the other and counts a share of its time, so
 * that both sides are timed over as many bytes and as long a window: on a loaded machine a short
 * run can fall into a quiet moment that a long one never gets, which made the small side look
 * faster than it is. Each input is a string of its own: V8 caches what `split` made of a string,
 * so a second parse of the same one is faster. (The best of several: other test files running at
 * once make single runs noisy, and no number of tries lets quadratic work look linear.)
 */
function ratio({ parse, input }: Case, small: number, large: number, runs: { small: number; large: number }): { ratio: number; says: string } {
  const copies = Math.round(large / small);
  const best = (bytes: number, count: number, n: number): number =>
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
  return { ratio: largeMs / Math.max(smallMs, 0.01), says: `${small / MB} MB: ${smallMs.toFixed(2)} ms, ${large / MB} MB: ${largeMs.toFixed(2)} ms` };
}

// Ten times the bytes: linear work takes about ten times as long, quadratic about a hundred.
describe('parse time is linear in the input', () => {
  it.each(ENORMOUS_FIELD)('$name: a 50 MB line takes less than 20 times as long as a 5 MB one', (c) => {
    const r = ratio(c, 5 * MB, 50 * MB, { small: 3, large: 1 });
    expect(r.ratio, r.says).toBeLessThan(20);
  });

  // Hundreds of thousands of rows or tokens kept alive while parsing make V8's collector work a
  // little more than linearly: a wider bound, still far below the hundredfold of quadratic work.
  it.each(MANY_TOKENS)('$name: 2.5 MB takes less than 30 times as long as 0.25 MB', (c) => {
    const r = ratio(c, MB / 4, (5 * MB) / 2, { small: 5, large: 5 });
    expect(r.ratio, r.says).toBeLessThan(30);
  });
});

describe('memory', () => {
  it('keeps no output alive once its rows are dropped, whatever the hosts in it', () => {
    const heap = (): number => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    const before = heap();
    for (let poll = 0; poll < 10; poll++) {
      // Each poll brings a host never seen before (a new IPv6 peer), long enough for V8 to slice it.
      const row = `ESTAB 0 0 [2001:db8::${poll.toString(16)}]:8080 [2001:db8::ffff:${poll}]:4000 ino:1\n`;
      const output = row + 'x'.repeat(10 * MB) + '\n';
      expect(parseSs(output).rows).toHaveLength(1);
    }
    const growth = heap() - before;
    // Ten outputs of 10 MB each: kept, they would be 100 MB.
    expect(growth / MB, `heap growth ${(growth / MB).toFixed(1)} MB`).toBeLessThan(20);
  });
});
