import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { parseNetstatBsd, parseNetstatLinux } from '../../src/observe/kernel/netstat-parser.js';
import { parseProcNetTcp } from '../../src/observe/kernel/proc-net-tcp-parser.js';
import type { ParseResult } from '../../src/observe/kernel/rows.js';
import { parseSs } from '../../src/observe/kernel/ss-parser.js';

// Work and memory bounded by the input. What this file holds does not depend on timing: an
// enormous field costs one row (skipped, or kept with what it parses to unchanged by the
// field's size), many lines give as many rows, and a parser keeps nothing of an output once
// its rows are dropped. That parse time grows linearly with the input is a measurement, made
// by the benchmark (bench/7-parse-linearity.mjs), not asserted here.

const MB = 1024 * 1024;

interface Case {
  readonly name: string;
  /** Parses, and returns what the result keeps that may depend on the input. */
  readonly parse: (text: string) => unknown;
  /** The input with a field of `bytes` bytes. */
  readonly input: (bytes: number) => string;
}

/** `unit` repeated (no newline) to `bytes`, as one flat string. */
function fill(unit: string, bytes: number): string {
  return Buffer.alloc(bytes, unit, 'latin1').toString('latin1');
}

/** One line: a row's first fields, then one enormous field where an address, number or state goes. */
const ENORMOUS_FIELD: readonly Case[] = [
  { name: 'parseSs, an enormous address', parse: (t) => parseSs(t), input: (n) => `ESTAB 0 0 127.0.0.1:1 [${fill('f:', n)}]:80 ino:1` },
  {
    name: 'parseSs, an enormous tcp_info value (read here)',
    // The info line is kept as the kernel gave it, to be read on demand: what it reads to is compared.
    parse: (t) => {
      const { rows, skipped } = parseSs(t);
      return { rows: rows.length, skipped, tcpInfo: rows[0]?.tcpInfo };
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

describe('an enormous field costs one row', () => {
  it.each(ENORMOUS_FIELD)('$name: 10 MB parse to what 1 kB parse to', ({ parse, input }) => {
    const small = parse(input(1000));
    expect(JSON.stringify(small).length, 'the small result').toBeLessThan(1000);
    expect(parse(input(10 * MB))).toEqual(small);
  });
});

describe('many lines give as many rows, and nothing more', () => {
  const LINES: ReadonlyArray<{ name: string; parse: (text: string) => ParseResult; line: string }> = [
    { name: 'parseSs', parse: (t) => parseSs(t), line: 'ESTAB 0 0 127.0.0.1:8080 127.0.0.1:40000 ino:1 timer:(on,1ms,0)\n\trtt:0.1/0.05 cwnd:10\n' },
    { name: 'parseProcNetTcp', parse: (t) => parseProcNetTcp(t), line: '0: 0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000 0 0 1 1\n' },
    { name: 'parseNetstatLinux', parse: parseNetstatLinux, line: 'tcp 0 0 127.0.0.1:8080 127.0.0.1:40000 ESTABLISHED\n' },
    { name: 'parseNetstatBsd', parse: parseNetstatBsd, line: 'tcp4 0 0 127.0.0.1.8080 127.0.0.1.40000 ESTABLISHED\n' },
  ];
  it.each(LINES)('$name: 100,000 lines, 100,000 rows', ({ parse, line }) => {
    const result = parse(line.repeat(100_000));
    expect(result.skipped).toBe(0);
    expect(result.rows).toHaveLength(100_000);
    expect(result.rows[99_999]).toEqual(parse(line).rows[0]);
  });
});

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

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
