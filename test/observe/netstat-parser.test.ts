import { describe, expect, it } from 'vitest';
import { parseBsdEndpoint, parseNetstatBsd, parseNetstatLinux, parseNetstatTimer } from '../../src/observe/kernel/netstat-parser.js';
import type { KernelSocketRow } from '../../src/observe/kernel/rows.js';
import { parseSs } from '../../src/observe/kernel/ss-parser.js';
import { netstatArguments } from '../../src/observe/kernel/netstat-source.js';
import { byInode, readFixture, rowKey } from './fixture.js';

// netstat here is the same sockets as the ss fixture, captured a moment later.
const ssRows = parseSs(readFixture('ss-tanieoH.txt')).rows;
/** What netstat and ss agree on; ss prints the dual-stack wildcard `*`, netstat `::`. */
const identity = (r: KernelSocketRow): string => rowKey(r).replaceAll(' * ', ' :: ');

describe('parseNetstatLinux on real net-tools output', () => {
  it.each(['netstat-linux-taneW.txt', 'netstat-linux-tanpeW.txt', 'netstat-linux-taneeoW.txt'])('%s has the same sockets as ss', (fixture) => {
    const { rows, skipped } = parseNetstatLinux(readFixture(fixture));
    expect(skipped).toBe(0);
    expect(rows.map(identity).sort()).toEqual(ssRows.map(identity).sort());
  });

  it('reads User and Inode when -e is given, and nothing when it is not', () => {
    const withE = parseNetstatLinux(readFixture('netstat-linux-tanpeW.txt')).rows;
    expect(byInode(withE, 9520)).toEqual({
      state: 'established',
      recvQ: 0,
      sendQ: 0,
      local: { address: '127.0.0.1', port: 33887 }, // net-tools prints the v4-mapped side of a dual-stack socket as IPv4
      peer: { address: '127.0.0.1', port: 58888 },
      inode: 9520,
      uid: 0,
    });
    expect(byInode(withE, 9503)).toMatchObject({ recvQ: 130021, sendQ: 0 });
    expect(byInode(withE, 9518).local).toEqual({ address: '::', port: 33887 }); // :::33887
    const plain = parseNetstatLinux(readFixture('netstat-linux-tan.txt')); // also without -W
    expect(plain.rows.every((r) => r.inode === 0 && r.uid === undefined)).toBe(true);
    expect(plain).toMatchObject({ skipped: 3 });
  });

  it('reads the -o Timer column', () => {
    const rows = parseNetstatLinux(readFixture('netstat-linux-taneeoW.txt')).rows;
    expect(byInode(rows, 9534).timer).toEqual({ name: 'on', expiresMs: 440, retransmits: 1 }); // on (0.44/1/0)
    expect(byInode(rows, 9504).timer).toEqual({ name: 'keepalive', expiresMs: 3400, retransmits: 0 });
    expect(byInode(rows, 9502).timer?.name).toBe('persist'); // net-tools calls it `probe`
    expect(byInode(rows, 9498).timer).toBeUndefined(); // off
  });

  it('skips the rows whose long IPv6 addresses net-tools cut short without -W', () => {
    const { rows, skipped } = parseNetstatLinux(readFixture('netstat-linux-tane-truncated.txt'));
    expect(skipped).toBe(3); // 2001:db8:aaaa:bbb:44793 is no address
    expect(rows).toHaveLength(28);
    expect(rows.some((r) => r.local.address.startsWith('2001:'))).toBe(false);
    expect(netstatArguments('linux')).toContain('-W');
  });

  it('maps every net-tools state name', () => {
    const names = ['ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING'];
    const text = ['Proto Recv-Q Send-Q Local Address Foreign Address State', ...names.map((s) => `tcp 0 0 ::ffff:127.0.0.1:8080 [::1]:1 ${s}`)].join('\n');
    const { rows, skipped } = parseNetstatLinux(text);
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
    ]);
    expect(rows[0]?.local).toEqual({ address: '127.0.0.1', port: 8080 });
  });

  it('finds columns by header name, whatever their order', () => {
    const text = ['Proto Recv-Q Send-Q Local Address Foreign Address State Inode User', 'tcp 1 2 10.0.0.1:22 10.0.0.2:5000 ESTABLISHED 77 1000'].join('\n');
    expect(parseNetstatLinux(text).rows[0]).toMatchObject({ recvQ: 1, sendQ: 2, inode: 77, uid: 1000 });
  });

  it('counts malformed rows and other protocols as skipped', () => {
    const text = [
      'Proto Recv-Q Send-Q Local Address Foreign Address State User Inode',
      'tcp 0 0 127.0.0.1:1 127.0.0.1:2 ESTABLISHED 0 5',
      'udp 0 0 127.0.0.1:1 127.0.0.1:2 ESTABLISHED 0 6',
      'tcp 0 0 127.0.0.1:1 127.0.0.1:2 UNKNOWN 0 7',
      'tcp 0 0 127.0.0.1:1 127.0.0.1:2 ESTABLISHED 0 -',
      'tcp 0 0 127.0.0.1 127.0.0.1:2 ESTABLISHED 0 9',
    ].join('\n');
    expect(parseNetstatLinux(text)).toMatchObject({ skipped: 4, rows: [{ inode: 5 }] });
  });

  it('reads net-tools timers', () => {
    expect(parseNetstatTimer('timewait (58.41/0/0)')).toEqual({ name: 'timewait', expiresMs: 58_410, retransmits: 0 });
    expect(parseNetstatTimer('keepalive (7198.41/0/3)')).toEqual({ name: 'keepalive', expiresMs: 7_198_410, retransmits: 3 });
    expect(parseNetstatTimer('unkn-7 (1.00/0/0)')?.name).toBe('unknown');
    expect(parseNetstatTimer('off (0.00/0/0)')).toBeUndefined();
    expect(parseNetstatTimer('on 0.44/1/0')).toBeUndefined();
  });
});

describe('parseNetstatBsd on macOS output (handwritten fixtures)', () => {
  const an = parseNetstatBsd(readFixture('netstat-macos-an.handwritten.txt'));

  it('reads host.port addresses, every state, and skips cut IPv6 hosts', () => {
    expect(an.skipped).toBe(1); // fe80::aede:48ff:.49167
    expect(an.rows).toHaveLength(19);
    expect(an.rows.map((r) => r.state)).toEqual([
      'established',
      'established',
      'close_wait',
      'fin_wait_2',
      'time_wait',
      'fin_wait_1',
      'syn_sent',
      'last_ack',
      'closing',
      'syn_received',
      'closed',
      'established',
      'established',
      'established',
      'listen',
      'listen',
      'listen',
      'listen',
      'listen',
    ]);
    expect(an.rows[2]).toEqual({
      state: 'close_wait',
      recvQ: 517,
      sendQ: 0,
      local: { address: '127.0.0.1', port: 8080 },
      peer: { address: '127.0.0.1', port: 52346 },
      inode: 0,
    });
    expect(an.rows[5]).toMatchObject({ sendQ: 146, peer: { address: '17.253.144.10', port: 443 } });
    expect(an.rows[11]?.local).toEqual({ address: '::1', port: 8081 });
    expect(an.rows[13]?.local).toEqual({ address: 'fe80::1', port: 1023, scope: 'lo0' });
    expect(an.rows[14]).toMatchObject({ local: { address: '*', port: 8080 }, peer: { address: '*', port: 0 } });
  });

  it('ignores the -v columns after (state)', () => {
    const anv = parseNetstatBsd(readFixture('netstat-macos-anv.handwritten.txt'));
    expect(anv.skipped).toBe(0);
    expect(anv.rows.map((r) => [r.state, r.local.port, r.peer.port, r.recvQ])).toEqual([
      ['established', 8080, 52345, 0],
      ['close_wait', 8080, 52346, 517],
      ['established', 1023, 1022, 0],
      ['listen', 8080, 0, 0],
    ]);
  });

  it('splits endpoints at the last dot', () => {
    expect(parseBsdEndpoint('::ffff:127.0.0.1.8080')).toEqual({ address: '127.0.0.1', port: 8080 });
    expect(parseBsdEndpoint('*.*')).toEqual({ address: '*', port: 0 });
    expect(parseBsdEndpoint('2001:db8::1.443')).toEqual({ address: '2001:db8::1', port: 443 });
    for (const bad of ['127.0.0.1', '127.0.0.1:80', '.80', 'fe80::1%.80', '*%lo0.80', 'fe80::aede:48ff:.49167', '1.2.3.4.99999']) {
      expect(parseBsdEndpoint(bad), bad).toBeUndefined();
    }
  });

  it('runs netstat with a fixed argv per platform', () => {
    expect(netstatArguments('darwin')).toEqual(['-a', '-n', '-p', 'tcp']);
    expect(netstatArguments('linux')).toEqual(['-t', '-a', '-n', '-e', '-o', '-W']);
  });
});
