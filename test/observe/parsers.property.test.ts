import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseHostPort } from '../../src/observe/kernel/address.js';
import { parsePortRange, parseSnmpStyle } from '../../src/observe/kernel/kernel-counters.js';
import { parseBsdEndpoint, parseNetstatBsd, parseNetstatLinux, parseNetstatTimer } from '../../src/observe/kernel/netstat-parser.js';
import { parseProcNetTcp } from '../../src/observe/kernel/proc-net-tcp-parser.js';
import type { KernelSocketRow, ParseResult } from '../../src/observe/kernel/rows.js';
import { parseSs, parseSsDuration, parseTcpInfo } from '../../src/observe/kernel/ss-parser.js';
import { ALL_TCP_STATES } from '../../src/tcp-states.js';
import { readFixture } from './fixture.js';

interface RowParser {
  readonly name: string;
  readonly parse: (text: string) => ParseResult;
  readonly fixtures: readonly string[];
  /** Lines that are neither a row nor a skipped line: headers, titles, continuations. */
  readonly isNotARow: (line: string) => boolean;
}

const PARSERS: readonly RowParser[] = [
  {
    name: 'parseSs',
    parse: (text) => parseSs(text),
    fixtures: ['ss-tanieoH.txt', 'ss-tanieo-header.txt'],
    isNotARow: (line) => /^[\t ]/.test(line) || /^(State|Netid|Recv-Q)\s/.test(line),
  },
  {
    name: 'parseSs (implied state)',
    parse: (text) => parseSs(text, { impliedState: 'close_wait' }),
    fixtures: ['ss-tanieoH-state-close-wait.txt'],
    isNotARow: (line) => /^[\t ]/.test(line) || /^(State|Netid|Recv-Q)\s/.test(line),
  },
  {
    name: 'parseProcNetTcp',
    parse: (text) => parseProcNetTcp(text),
    fixtures: ['proc-net-tcp.txt', 'proc-net-tcp6.txt'],
    isNotARow: (line) => line.trim().split(/\s+/)[0] === 'sl',
  },
  {
    name: 'parseNetstatLinux',
    parse: parseNetstatLinux,
    fixtures: ['netstat-linux-tanpeW.txt', 'netstat-linux-taneeoW.txt', 'netstat-linux-tane-truncated.txt'],
    isNotARow: (line) => line.startsWith('Active ') || line.trim().split(/\s+/)[0] === 'Proto',
  },
  {
    name: 'parseNetstatBsd',
    parse: parseNetstatBsd,
    fixtures: ['netstat-macos-an.handwritten.txt', 'netstat-macos-anv.handwritten.txt'],
    isNotARow: (line) => line.startsWith('Active ') || line.trim().split(/\s+/)[0] === 'Proto',
  },
];

function expectWellFormed(row: KernelSocketRow): void {
  expect(ALL_TCP_STATES).toContain(row.state);
  for (const n of [row.recvQ, row.sendQ, row.inode, row.local.port, row.peer.port]) {
    expect(Number.isSafeInteger(n) && n >= 0).toBe(true);
  }
  expect(row.local.port).toBeLessThanOrEqual(65535);
  expect(row.peer.port).toBeLessThanOrEqual(65535);
  for (const { address } of [row.local, row.peer]) expect(address === '*' || isIP(address) !== 0, address).toBe(true);
  if (row.timer !== undefined) expect(row.timer.expiresMs >= 0 && Number.isFinite(row.timer.expiresMs)).toBe(true);
}

function dataLineCount(text: string, parser: RowParser): number {
  return text.split('\n').filter((l) => l.trim() !== '' && !parser.isNotARow(l)).length;
}

/** Random edits of real output: drop, cut, duplicate lines; swap, replace tokens; cut the text. */
type Mutation =
  | { kind: 'drop' | 'duplicate'; line: number }
  | { kind: 'cutLine'; line: number; at: number }
  | { kind: 'swap'; line: number; a: number; b: number }
  | { kind: 'replace'; line: number; token: number; text: string }
  | { kind: 'cutText'; at: number };

const junkToken = fc.oneof(
  fc.string({ maxLength: 12 }).map((s) => s.replace(/\s/g, '')),
  fc.constantFrom('*', ':', '[', ']', '%', '.', '::', '0', '-1', '99999', 'ffff', 'timer:(on,', 'ino:', 'ESTAB', 'LISTEN', 'tcp6', 'sl'),
);
const index = fc.nat({ max: 10_000 });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constantFrom('drop' as const, 'duplicate' as const), line: index }),
  fc.record({ kind: fc.constant('cutLine' as const), line: index, at: index }),
  fc.record({ kind: fc.constant('swap' as const), line: index, a: index, b: index }),
  fc.record({ kind: fc.constant('replace' as const), line: index, token: index, text: junkToken }),
  fc.record({ kind: fc.constant('cutText' as const), at: index }),
);

function mutate(text: string, mutations: readonly Mutation[]): string {
  let lines = text.split('\n');
  for (const m of mutations) {
    if (m.kind === 'cutText') {
      const joined = lines.join('\n');
      lines = joined.slice(0, m.at % (joined.length + 1)).split('\n');
      continue;
    }
    const i = m.line % lines.length;
    const line = lines[i] ?? '';
    const tokens = line.split(' ');
    switch (m.kind) {
      case 'drop':
        lines.splice(i, 1);
        break;
      case 'duplicate':
        lines.splice(i, 0, line);
        break;
      case 'cutLine':
        lines[i] = line.slice(0, m.at % (line.length + 1));
        break;
      case 'swap': {
        const a = m.a % tokens.length;
        const b = m.b % tokens.length;
        [tokens[a], tokens[b]] = [tokens[b] ?? '', tokens[a] ?? ''];
        lines[i] = tokens.join(' ');
        break;
      }
      case 'replace':
        tokens[m.token % tokens.length] = m.text;
        lines[i] = tokens.join(' ');
        break;
    }
    if (lines.length === 0) lines = [''];
  }
  return lines.join('\n');
}

/** Lines no parser can read as a row, header, title or continuation. */
const garbageLine = fc.string({ minLength: 1, maxLength: 60 }).map((s) => `#${s.replace(/[\r\n]/g, '')}`);

describe.each(PARSERS)('$name', (parser) => {
  it('never throws on random text, and returns well-formed rows', () => {
    const text = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 400 }),
      fc.array(fc.oneof(junkToken, fc.constantFrom(' ', '  ', '\t', '\n', '\r\n')), { maxLength: 80 }).map((p) => p.join('')),
    );
    fc.assert(
      fc.property(text, (t) => {
        const result = parser.parse(t);
        expect(result.skipped).toBeGreaterThanOrEqual(0);
        result.rows.forEach(expectWellFormed);
      }),
      { numRuns: 500 },
    );
  });

  it.each(parser.fixtures)('never throws on mutated real output (%s), and accounts for every line', (fixture) => {
    const original = readFixture(fixture);
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 8 }), (mutations) => {
        const text = mutate(original, mutations);
        const result = parser.parse(text);
        result.rows.forEach(expectWellFormed);
        expect(result.rows.length + result.skipped).toBeLessThanOrEqual(dataLineCount(text, parser));
        if (!parser.name.startsWith('parseSs')) {
          // Every data line is either a row or counted as skipped.
          expect(result.rows.length + result.skipped).toBe(dataLineCount(text, parser));
        }
      }),
      { numRuns: 300 },
    );
  });

  it.each(parser.fixtures)('counts inserted garbage lines in skipped and keeps the rows (%s)', (fixture) => {
    const original = readFixture(fixture);
    const lines = original.split('\n');
    const before = parser.parse(original);
    const identity = (r: ParseResult): string[] =>
      r.rows.map((row) => `${row.state} ${row.local.address} ${row.local.port} ${row.peer.address} ${row.peer.port} ${row.inode}`);
    fc.assert(
      fc.property(fc.array(fc.tuple(index, garbageLine), { minLength: 1, maxLength: 10 }), (inserts) => {
        const mutated = [...lines];
        for (const [at, garbage] of inserts) mutated.splice(at % (mutated.length + 1), 0, garbage);
        const after = parser.parse(mutated.join('\n'));
        expect(after.skipped).toBe(before.skipped + inserts.length);
        expect(identity(after)).toEqual(identity(before));
      }),
      { numRuns: 200 },
    );
  });
});

describe('field parsers', () => {
  it('never throw on random text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (t) => {
        for (const endpoint of [parseHostPort(t), parseBsdEndpoint(t)]) {
          if (endpoint !== undefined) expect(endpoint.port).toBeLessThanOrEqual(65535);
        }
        parseSsDuration(t);
        parseTcpInfo(t);
        parseNetstatTimer(t);
        parseSnmpStyle(t);
        const range = parsePortRange(t);
        if (range !== undefined) expect(range.low).toBeLessThanOrEqual(range.high);
      }),
      { numRuns: 2000 },
    );
  });

  it('parseSnmpStyle never throws on mutated real counters', () => {
    const original = readFixture('proc-net-snmp.txt') + readFixture('proc-net-netstat.txt');
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 8 }), (mutations) => {
        for (const table of parseSnmpStyle(mutate(original, mutations)).values()) {
          for (const value of table.values()) expect(Number.isFinite(value)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});
