import { SocketAddress } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIpv6, parseProcNetTcp } from '../../src/observe/kernel/proc-net-tcp-parser.js';
import type { KernelSocketRow } from '../../src/observe/kernel/rows.js';
import { parseSs } from '../../src/observe/kernel/ss-parser.js';
import { byInode, readFixture, rowKey } from './fixture.js';

const tcp4 = parseProcNetTcp(readFixture('proc-net-tcp.txt'));
const tcp6 = parseProcNetTcp(readFixture('proc-net-tcp6.txt'));
const procRows = [...tcp4.rows, ...tcp6.rows];
// Read back to back with the /proc files, from the same sockets.
const ssRows = parseSs(readFixture('ss-tanieoH.txt')).rows;

describe('parseProcNetTcp on real /proc/net/tcp and tcp6', () => {
  it('reads every line', () => {
    expect(tcp4).toMatchObject({ skipped: 0 });
    expect(tcp4.rows).toHaveLength(17);
    expect(tcp6).toMatchObject({ skipped: 0 });
    expect(tcp6.rows).toHaveLength(14);
  });

  it('decodes little-endian hex addresses, IPv4-mapped and compressed IPv6', () => {
    expect(byInode(procRows, 9510).local).toEqual({ address: '127.0.0.1', port: 38809 }); // 0100007F:9799
    expect(byInode(procRows, 9513).local).toEqual({ address: '::1', port: 46445 });
    expect(byInode(procRows, 9518).local).toEqual({ address: '::', port: 33887 });
    expect(byInode(procRows, 9520).local).toEqual({ address: '127.0.0.1', port: 33887 }); // 0000000000000000FFFF00000100007F
    expect(byInode(procRows, 9522).local).toEqual({ address: 'fe80::1', port: 42879 }); // no scope in /proc
    expect(byInode(procRows, 9531).local.address).toBe('2001:db8:aaaa:bbbb:cccc:dddd:eeee:1');
  });

  it('agrees with ss on state, addresses, ports and queues of every socket', () => {
    const key = (r: KernelSocketRow): string => `${rowKey(r)} ${r.inode} ${r.recvQ} ${r.state === 'listen' ? '' : r.sendQ}`;
    // ss prints the dual-stack wildcard as `*`; /proc has the all-zero address.
    const fromSs = ssRows.map((r) => key(r).replaceAll(' * ', ' :: ')).sort();
    expect(procRows.map(key).sort()).toEqual(fromSs);
  });

  it('gives LISTEN the accept-queue depth and no backlog limit (that is ss only)', () => {
    expect(byInode(procRows, 9510)).toMatchObject({ state: 'listen', recvQ: 0, sendQ: 0 });
  });

  it('converts tm->when from USER_HZ ticks to ms, matching ss within what ss prints', () => {
    // ss drops ms from 10 s up and seconds from 10 min up; /proc counts 10 ms ticks.
    const precision = (ms: number): number => (ms >= 600_000 ? 60_000 : ms >= 10_000 ? 1000 : 10);
    const timed = ssRows.filter((r) => r.timer !== undefined && r.timer.name !== 'persist');
    expect(timed.length).toBe(6); // three keepalive, one on, two timewait
    for (const ss of timed) {
      const proc = procRows.find((r) => rowKey(r) === rowKey(ss));
      expect(proc?.timer?.name).toBe(ss.timer?.name);
      expect(proc?.timer?.retransmits).toBe(ss.timer?.retransmits);
      const gap = Math.abs((proc?.timer?.expiresMs ?? NaN) - (ss.timer?.expiresMs ?? NaN));
      expect(gap).toBeLessThanOrEqual(precision(ss.timer?.expiresMs ?? 0) + 50);
    }
    expect(byInode(procRows, 9504).timer).toEqual({ name: 'keepalive', expiresMs: 3480, retransmits: 0 }); // 02:0000015C, ss 3.480ms
  });

  it('takes retransmits from retrnsmt for `on`, and probes from the timeout column for persist/keepalive', () => {
    expect(byInode(procRows, 9534).timer).toEqual({ name: 'on', expiresMs: 500, retransmits: 1 }); // 01:00000032 ... 00000001
    expect(byInode(procRows, 9502).timer).toEqual({ name: 'persist', expiresMs: 0, retransmits: 1 }); // 04:... timeout 1
    expect(byInode(procRows, 9498).timer).toBeUndefined(); // tr 00
  });

  it('reads uid and TIME_WAIT lines, which are shorter', () => {
    const timeWait = procRows.find((r) => r.state === 'time_wait' && r.local.port === 58940);
    expect(timeWait).toMatchObject({ inode: 0, uid: 0, timer: { name: 'timewait', expiresMs: 58_480 } });
  });
});

describe('parseProcNetTcp on other input', () => {
  const header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
  const line = (st: string): string =>
    `   0: 0100007F:1F90 0200007F:C350 ${st} 0000000A:00000014 00:00000000 00000000  1000        0 4242 1 0000000000000000 20 4 0 10 -1`;

  it('maps every kernel state number', () => {
    const states = ['01', '02', '03', '04', '05', '06', '07', '08', '09', '0A', '0B', '0C'];
    const { rows, skipped } = parseProcNetTcp([header, ...states.map(line)].join('\n'));
    expect(skipped).toBe(0);
    expect(rows.map((r) => r.state)).toEqual([
      'established',
      'syn_sent',
      'syn_received',
      'fin_wait_1',
      'fin_wait_2',
      'time_wait',
      'closed',
      'close_wait',
      'last_ack',
      'listen',
      'closing',
      'syn_received',
    ]);
    expect(rows[0]).toMatchObject({ sendQ: 10, recvQ: 20, uid: 1000, inode: 4242, peer: { address: '127.0.0.2', port: 50000 } });
  });

  it('decodes as a big-endian host when told to', () => {
    const row = parseProcNetTcp(`${header}\n   0: 7F000001:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 7 1`, {
      littleEndian: false,
    }).rows[0];
    expect(row?.local).toEqual({ address: '127.0.0.1', port: 22 });
  });

  it('reads tcp and tcp6 concatenated, and data without a header', () => {
    const text = `${readFixture('proc-net-tcp.txt')}${readFixture('proc-net-tcp6.txt')}`;
    expect(parseProcNetTcp(text)).toMatchObject({ skipped: 0 });
    expect(parseProcNetTcp(text).rows).toHaveLength(31);
    const headless = readFixture('proc-net-tcp.txt').split('\n').slice(1).join('\n');
    expect(parseProcNetTcp(headless).rows).toHaveLength(17);
  });

  it('skips the lines under a header it does not know, rather than misreading them', () => {
    const odd = 'sl local_address st rem_address tx_queue rx_queue tr tm->when retrnsmt uid inode';
    expect(parseProcNetTcp(`${odd}\n${line('01')}\n${line('08')}`)).toEqual({ rows: [], skipped: 2 });
  });

  it('counts malformed lines as skipped', () => {
    const bad = [
      line('0D'), // no such state
      line('01').replace('0100007F:1F90', '0100007F1F90'), // no port separator
      line('01').replace('0200007F:C350', '00000000000000000000000001000000:C350'), // mixed families
      line('01').replace('0000000A:00000014', 'zz:00000014'),
      line('01').replace(' 4242 ', ' -1 '),
      '   0: 0100007F:1F90',
    ];
    expect(parseProcNetTcp([header, line('01'), ...bad].join('\n'))).toMatchObject({ skipped: bad.length });
  });
});

describe('formatIpv6', () => {
  it('prints what Node prints for the same 16 bytes', () => {
    const word = fc.oneof(fc.constant(0), fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(word, { minLength: 8, maxLength: 8 }), (words) => {
        const bytes = words.flatMap((w) => [w >> 8, w & 0xff]);
        const expanded = words.map((w) => w.toString(16)).join(':');
        expect(formatIpv6(bytes)).toBe(new SocketAddress({ address: expanded, family: 'ipv6' }).address);
      }),
      { numRuns: 2000 },
    );
  });
});
