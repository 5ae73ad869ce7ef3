import { describe, expect, it } from 'vitest';
import { parsePortRange, parseSnmpStyle, parseSockstat, readKernelCounters } from '../../src/observe/kernel/kernel-counters.js';
import { readFixture } from './fixture.js';

describe('parseSnmpStyle', () => {
  it('pairs names with values per prefix in /proc/net/snmp', () => {
    const tables = parseSnmpStyle(readFixture('proc-net-snmp.txt'));
    expect([...tables.keys()]).toEqual(expect.arrayContaining(['Ip', 'Icmp', 'Tcp', 'Udp', 'UdpLite']));
    const tcp = tables.get('Tcp');
    expect(tcp?.get('RtoMin')).toBe(200);
    expect(tcp?.get('MaxConn')).toBe(-1);
    expect(tcp?.get('ActiveOpens')).toBeGreaterThan(0);
    expect(tcp?.has('RetransSegs')).toBe(true);
  });

  it('reads TcpExt from /proc/net/netstat', () => {
    const tcpExt = parseSnmpStyle(readFixture('proc-net-netstat.txt')).get('TcpExt');
    expect(tcpExt?.get('ListenOverflows')).toBe(0);
    expect(tcpExt?.get('ListenDrops')).toBe(0);
    expect(tcpExt?.size).toBeGreaterThan(100);
  });

  it('drops pairs that do not line up instead of misassigning values', () => {
    const text = 'Tcp: A B C\nTcp: 1 2\nUdp: X Y\nUdp: 7 8\nTcp: 5 6\nFoo: P\nBar: 1\n';
    const tables = parseSnmpStyle(text);
    expect(tables.has('Tcp')).toBe(false);
    expect(tables.has('Foo')).toBe(false);
    expect(tables.get('Udp')).toEqual(
      new Map([
        ['X', 7],
        ['Y', 8],
      ]),
    );
  });
});

describe('parseSockstat', () => {
  it("reads the TCP line's fields", () => {
    const text = 'sockets: used 9\nTCP: inuse 1 orphan 3 tw 2 alloc 1 mem 138\nUDP: inuse 0 mem 0\n';
    expect(Object.fromEntries(parseSockstat(text))).toEqual({ inuse: 1, orphan: 3, tw: 2, alloc: 1, mem: 138 });
  });
  it('skips a value that is not a number, and reads nothing from other text', () => {
    expect(Object.fromEntries(parseSockstat('TCP: inuse x tw 4\n'))).toEqual({ tw: 4 });
    expect(parseSockstat('garbage\n').size).toBe(0);
  });
});

describe('parsePortRange', () => {
  it('reads the two numbers', () => {
    expect(parsePortRange('32768\t60999\n')).toEqual({ low: 32768, high: 60999 });
  });
  it.each(['', '32768', '60999 32768', '0 100', '1 70000', 'a b'])('rejects %j', (text) => {
    expect(parsePortRange(text)).toBeUndefined();
  });
});

describe('readKernelCounters', () => {
  it('reads this machine', async () => {
    const counters = await readKernelCounters();
    expect(counters.retransSegs).toBeTypeOf('number');
    expect(counters.listenOverflows).toBeTypeOf('number');
    expect(counters.listenDrops).toBeTypeOf('number');
    expect(counters.synRetrans).toBeTypeOf('number');
    expect(counters.synQueueFullCookies).toBeTypeOf('number');
    expect(counters.ephemeralPortRange?.low).toBeLessThan(counters.ephemeralPortRange?.high ?? 0);
    expect(counters.timeWaitNow).toBeTypeOf('number');
  });

  it('leaves fields undefined when files are missing, and does not reject', async () => {
    const counters = await readKernelCounters({
      snmp: '/nonexistent/snmp',
      netstat: '/nonexistent/netstat',
      portRange: '/nonexistent',
      sockstat: '/nonexistent',
    });
    expect(Object.values(counters).every((v) => v === undefined)).toBe(true);
  });
});
