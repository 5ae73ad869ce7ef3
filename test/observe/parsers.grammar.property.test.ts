import fc from 'fast-check';
import { isIP } from 'node:net';
import { describe, expect, it } from 'vitest';
import { normalizeAddress } from '../../src/observe/kernel/address.js';
import { parseNetstatLinux } from '../../src/observe/kernel/netstat-parser.js';
import { parseProcNetTcp } from '../../src/observe/kernel/proc-net-tcp-parser.js';
import type { KernelSocketRow } from '../../src/observe/kernel/rows.js';
import { parseSs } from '../../src/observe/kernel/ss-parser.js';
import { ssArguments } from '../../src/observe/kernel/ss-source.js';
import { ALL_TCP_STATES, type TcpState } from '../../src/tcp-states.js';

// Lines built from each tool's grammar, each field drawn from values it may hold and values it
// must not (ports past 65535, negative counts, unknown states, cut addresses). A line becomes a
// row exactly when every field is valid, and then the row holds what the line said; otherwise
// it is skipped. No row ever has a NaN or out-of-range port, or a state outside the eleven.

/** A field's text and whether it is valid. */
interface Field<T> {
  readonly text: string;
  readonly value: T | undefined;
}

const valid = <T>(text: string, value: T): Field<T> => ({ text, value });
const invalid = <T>(text: string): Field<T> => ({ text, value: undefined });

function expectImpossibleNothing(row: KernelSocketRow): void {
  expect(ALL_TCP_STATES).toContain(row.state);
  for (const port of [row.local.port, row.peer.port]) expect(Number.isInteger(port) && port >= 0 && port <= 65535, `port ${port}`).toBe(true);
  for (const n of [row.recvQ, row.sendQ, row.inode]) expect(Number.isSafeInteger(n) && n >= 0, `count ${n}`).toBe(true);
  for (const { address } of [row.local, row.peer]) expect(address === '*' || isIP(address) !== 0, address).toBe(true);
}

const decimalPort: fc.Arbitrary<Field<number>> = fc.oneof(
  fc.integer({ min: 0, max: 65535 }).map((p) => valid(String(p), p)),
  fc.integer({ min: 65536, max: 99_999 }).map((p) => invalid<number>(String(p))),
  fc.integer({ min: 100_000, max: 2 ** 40 }).map((p) => invalid<number>(String(p))),
  fc.integer({ min: -65535, max: -1 }).map((p) => invalid<number>(String(p))),
  fc.constantFrom(
    invalid<number>(''),
    invalid<number>('0x50'),
    invalid<number>('8e1'),
    invalid<number>('NaN'),
    invalid<number>('80.0'),
    invalid<number>('+80'),
  ),
);

const count: fc.Arbitrary<Field<number>> = fc.oneof(
  fc.nat({ max: 2 ** 31 }).map((n) => valid(String(n), n)),
  fc.constantFrom(invalid<number>('-1'), invalid<number>('1e3'), invalid<number>('x'), invalid<number>('99999999999999999999')),
);

/** Hosts as ss and netstat -n print them. */
const textHost: fc.Arbitrary<Field<string>> = fc.oneof(
  fc.ipV4().map((a) => valid(a, a)),
  fc.ipV6().map((a) => valid(`[${a}]`, normalizeAddress(a))),
  fc.constant(valid('*', '*')),
  fc.constantFrom(
    invalid<string>('256.1.1.1'),
    invalid<string>('[::1'),
    invalid<string>('localhost'),
    invalid<string>('2001:db8:aaaa:bbb'),
    invalid<string>('[]'),
  ),
);

const ssState: fc.Arbitrary<Field<TcpState>> = fc.oneof(
  fc.constantFrom(
    valid<TcpState>('ESTAB', 'established'),
    valid<TcpState>('CLOSE-WAIT', 'close_wait'),
    valid<TcpState>('TIME-WAIT', 'time_wait'),
    valid<TcpState>('LISTEN', 'listen'),
    valid<TcpState>('SYN-RECV', 'syn_received'),
    valid<TcpState>('FIN-WAIT-2', 'fin_wait_2'),
  ),
  fc.constantFrom(invalid<TcpState>('ESTABLISHED'), invalid<TcpState>('close-wait'), invalid<TcpState>('UNKNOWN'), invalid<TcpState>('CLOSE_WAIT')),
);

describe('ss grammar', () => {
  it('a line is a row exactly when every field is valid, and the row says what the line says', () => {
    fc.assert(
      fc.property(ssState, count, count, textHost, decimalPort, textHost, decimalPort, (state, recvQ, sendQ, localHost, localPort, peerHost, peerPort) => {
        // ss prints a wildcard port as `*`; a `*` host goes with any port.
        const line = `${state.text} ${recvQ.text} ${sendQ.text} ${localHost.text}:${localPort.text} ${peerHost.text}:${peerPort.text} ino:7`;
        const result = parseSs(line);
        result.rows.forEach(expectImpossibleNothing);
        const fields = [state, recvQ, sendQ, localHost, localPort, peerHost, peerPort];
        if (fields.every((f) => f.value !== undefined)) {
          expect(result.rows, line).toHaveLength(1);
          expect(result.rows[0]).toMatchObject({
            state: state.value,
            recvQ: recvQ.value,
            sendQ: sendQ.value,
            local: { address: localHost.value, port: localPort.value },
            peer: { address: peerHost.value, port: peerPort.value },
            inode: 7,
          });
        } else {
          expect(result.rows, line).toEqual([]);
          expect(result.skipped).toBe(1);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('/proc/net/tcp grammar', () => {
  const hex = (digits: number): fc.Arbitrary<string> =>
    fc.array(fc.constantFrom(...'0123456789ABCDEFabcdef'), { minLength: digits, maxLength: digits }).map((d) => d.join(''));
  const address: fc.Arbitrary<Field<true>> = fc.oneof(
    hex(8).map((h) => valid(h, true as const)),
    fc
      .integer({ min: 1, max: 12 })
      .filter((n) => n !== 8)
      .chain((n) => hex(n))
      .map((h) => invalid<true>(h)),
    fc.constantFrom(invalid<true>('0100007G'), invalid<true>('')),
  );
  const port: fc.Arbitrary<Field<number>> = fc.oneof(
    hex(4).map((h) => valid(h, parseInt(h, 16))),
    fc.constantFrom(...['', '1', 'FFFFF', '-001', 'GGGG'].map((t) => invalid<number>(t))),
  );
  const PROC: Record<number, TcpState> = {
    1: 'established',
    2: 'syn_sent',
    3: 'syn_received',
    4: 'fin_wait_1',
    5: 'fin_wait_2',
    6: 'time_wait',
    7: 'closed',
    8: 'close_wait',
    9: 'last_ack',
    10: 'listen',
    11: 'closing',
    12: 'syn_received',
  };
  const state: fc.Arbitrary<Field<TcpState>> = fc.integer({ min: 0, max: 255 }).map((n) => {
    const text = n.toString(16).toUpperCase().padStart(2, '0');
    return PROC[n] === undefined ? invalid<TcpState>(text) : valid(text, PROC[n]);
  });

  it('a line is a row exactly when every field is valid, with its port and state', () => {
    fc.assert(
      fc.property(address, port, address, port, state, (localAddress, localPort, peerAddress, peerPort, st) => {
        const line = `   0: ${localAddress.text}:${localPort.text} ${peerAddress.text}:${peerPort.text} ${st.text} 00000000:00000000 00:00000000 00000000     0        0 9510 1 0000000000000000 100 0 0 10 0`;
        const result = parseProcNetTcp(line, { littleEndian: true });
        result.rows.forEach(expectImpossibleNothing);
        const fields = [localAddress, localPort, peerAddress, peerPort, st];
        if (fields.every((f) => f.value !== undefined)) {
          expect(result.rows, line).toHaveLength(1);
          expect(result.rows[0]).toMatchObject({ state: st.value, local: { port: localPort.value }, peer: { port: peerPort.value }, inode: 9510 });
        } else {
          expect(result.rows, line).toEqual([]);
          expect(result.skipped).toBe(1);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('netstat (Linux) grammar', () => {
  const state: fc.Arbitrary<Field<TcpState>> = fc.oneof(
    fc.constantFrom(
      valid<TcpState>('ESTABLISHED', 'established'),
      valid<TcpState>('CLOSE_WAIT', 'close_wait'),
      valid<TcpState>('LISTEN', 'listen'),
      valid<TcpState>('SYN_RECV', 'syn_received'),
    ),
    fc.constantFrom(invalid<TcpState>('ESTAB'), invalid<TcpState>('CLOSE-WAIT'), invalid<TcpState>('established'), invalid<TcpState>('')),
  );
  const port: fc.Arbitrary<Field<number>> = fc.oneof(decimalPort, fc.constant(valid('*', 0)));
  const host: fc.Arbitrary<Field<string>> = fc.oneof(
    fc.ipV4().map((a) => valid(a, a)),
    fc.ipV6().map((a) => valid(a, normalizeAddress(a))),
    fc.constantFrom(invalid<string>('256.1.1.1'), invalid<string>('localhost'), invalid<string>('2001:db8:aaaa:bbb:')),
  );

  it('a line is a row exactly when every field is valid, and the row says what the line says', () => {
    fc.assert(
      fc.property(count, count, host, port, host, port, state, (recvQ, sendQ, localHost, localPort, peerHost, peerPort, st) => {
        const text = `Proto Recv-Q Send-Q Local Address Foreign Address State\ntcp ${recvQ.text} ${sendQ.text} ${localHost.text}:${localPort.text} ${peerHost.text}:${peerPort.text} ${st.text}`;
        const result = parseNetstatLinux(text);
        result.rows.forEach(expectImpossibleNothing);
        const fields = [recvQ, sendQ, localHost, localPort, peerHost, peerPort, st];
        if (fields.every((f) => f.value !== undefined)) {
          expect(result.rows, text).toHaveLength(1);
          expect(result.rows[0]).toMatchObject({
            state: st.value,
            recvQ: recvQ.value,
            sendQ: sendQ.value,
            local: { address: localHost.value, port: localPort.value },
            peer: { address: peerHost.value, port: peerPort.value },
          });
        } else {
          expect(result.rows, text).toEqual([]);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('ss arguments', () => {
  const FIXED_WORDS = new Set(['-t', '-a', '-n', '-i', '-e', '-o', '-H', 'state', 'sport', 'dport', '=', '(', ')', 'or', 'and']);
  const STATE_WORDS = new Set([
    'closed',
    'listening',
    'syn-sent',
    'syn-recv',
    'established',
    'fin-wait-1',
    'fin-wait-2',
    'close-wait',
    'closing',
    'last-ack',
    'time-wait',
  ]);
  // Whatever reaches a query: integers in and out of range, fractions, NaN, infinities.
  const anyNumber = fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.integer(), fc.double(), fc.constantFrom(Number.NaN, Infinity, -Infinity, -0, 2 ** 53));

  it('are fixed words and `:<port>` with an integer port in 0..65535, nothing else', () => {
    fc.assert(
      fc.property(
        fc.subarray([...ALL_TCP_STATES]),
        fc.array(anyNumber, { maxLength: 20 }),
        fc.array(anyNumber, { maxLength: 20 }),
        fc.array(fc.record({ localPort: anyNumber, peerPort: anyNumber }), { maxLength: 10 }),
        (states, localPorts, peerPorts, portPairs) => {
          const argv = ssArguments({ states, localPorts, peerPorts, portPairs });
          for (const word of argv) {
            const port = /^:(\d{1,5})$/.exec(word);
            const ok = FIXED_WORDS.has(word) || STATE_WORDS.has(word) || (port !== null && Number(port[1]) <= 65535 && String(Number(port[1])) === port[1]);
            expect(ok, `${JSON.stringify(word)} in ${JSON.stringify(argv)}`).toBe(true);
          }
          // Every valid port asked for is in the filter.
          const words = new Set(argv);
          for (const p of [...localPorts, ...peerPorts]) if (Number.isInteger(p) && p >= 0 && p <= 65535) expect(words.has(`:${p}`)).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
