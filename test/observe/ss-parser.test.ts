import { describe, expect, it } from 'vitest';
import { parseSs, parseSsDuration, parseSsTimer } from '../../src/observe/kernel/ss-parser.js';
import { byInode, readFixture } from './fixture.js';

// Real `ss -tanieoH` from capture-linux.sh: 31 sockets in a private namespace.
const all = parseSs(readFixture('ss-tanieoH.txt'));

describe('parseSs on real ss -tanieoH output', () => {
  it('reads every socket line and attaches each tcp_info line to its socket', () => {
    expect(all.skipped).toBe(0);
    expect(all.rows).toHaveLength(31);
    expect(all.rows.filter((r) => r.state === 'time_wait')).toHaveLength(2);
    // TIME-WAIT's continuation line is blank; the socket gets no tcp_info rather than the next one's.
    expect(all.rows.find((r) => r.state === 'time_wait')?.tcpInfo).toBeUndefined();
  });

  it('reads a LISTEN socket: Recv-Q is the accept queue, Send-Q the backlog', () => {
    const listener = byInode(all.rows, 9510);
    expect(listener).toMatchObject({
      state: 'listen',
      recvQ: 0,
      sendQ: 511,
      local: { address: '127.0.0.1', port: 38809 },
      peer: { address: '0.0.0.0', port: 0 },
      inode: 9510,
    });
    expect(listener.uid).toBeUndefined();
    expect(listener.timer).toBeUndefined();
    expect(listener.tcpInfo).toEqual({ cwnd: 10 });
  });

  it('reads queues, timers and tcp_info', () => {
    const bulk = byInode(all.rows, 9502);
    expect(bulk).toMatchObject({ state: 'established', recvQ: 0, sendQ: 3723910 });
    expect(bulk.timer).toEqual({ name: 'persist', expiresMs: 0, retransmits: 1 }); // printed `timer:(persist,,1)`
    expect(byInode(all.rows, 9503).recvQ).toBe(130021);
    expect(byInode(all.rows, 9504).timer).toEqual({ name: 'keepalive', expiresMs: 3480, retransmits: 0 }); // 3.480ms
    expect(byInode(all.rows, 9506).timer?.expiresMs).toBe(88_000); // 1min28sec
    expect(byInode(all.rows, 9508).timer?.expiresMs).toBe(119 * 60_000); // 119min
    const synSent = byInode(all.rows, 9534);
    expect(synSent).toMatchObject({ state: 'syn_sent', sendQ: 1, peer: { address: '127.0.0.1', port: 7001 } });
    expect(synSent.timer).toEqual({ name: 'on', expiresMs: 512, retransmits: 1 });
    expect(synSent.tcpInfo).toMatchObject({ rtoMs: 1000, cwnd: 1, retransCurrent: 0, retransTotal: 1, lost: 1 });
    const timeWait = all.rows.find((r) => r.state === 'time_wait' && r.local.port === 58940);
    expect(timeWait).toMatchObject({ inode: 0, timer: { name: 'timewait', expiresMs: 58_000, retransmits: 0 } });
    expect(byInode(all.rows, 9498).tcpInfo).toMatchObject({ rttMs: 0.037, rttVarMs: 0.02, bytesSent: 1000, mss: 35328 });
  });

  it('normalises IPv6, IPv4-mapped, wildcard and scoped addresses', () => {
    expect(byInode(all.rows, 9513).local).toEqual({ address: '::1', port: 46445 }); // [::1]
    expect(byInode(all.rows, 9513).peer).toEqual({ address: '::', port: 0 }); // [::]:*
    expect(byInode(all.rows, 9518).local).toEqual({ address: '*', port: 33887 }); // dual-stack listener: *:33887
    expect(byInode(all.rows, 9518).peer).toEqual({ address: '*', port: 0 }); // *:*
    expect(byInode(all.rows, 9520).local).toEqual({ address: '127.0.0.1', port: 33887 }); // [::ffff:127.0.0.1]
    expect(byInode(all.rows, 9531).local.address).toBe('2001:db8:aaaa:bbbb:cccc:dddd:eeee:1');
    // This ss prints a link-local scope after the bracket, on the bound side only: [fe80::1]%lo:42428 [fe80::1]:42879
    const linkLocal = byInode(all.rows, 9525);
    expect(linkLocal.local).toEqual({ address: 'fe80::1', port: 42428, scope: 'lo' });
    expect(linkLocal.peer).toEqual({ address: 'fe80::1', port: 42879 });
  });
});

describe('parseSs without a State column', () => {
  it('takes the state from the single state filter', () => {
    const result = parseSs(readFixture('ss-tanieoH-state-close-wait.txt'), { impliedState: 'close_wait' });
    expect(result.skipped).toBe(0);
    expect(result.rows.map((r) => [r.state, r.local.port, r.peer.port, r.inode])).toEqual([
      ['close_wait', 35057, 50404, 9501],
      ['close_wait', 42879, 42442, 9530],
    ]);
    expect(result.rows[1]?.local.scope).toBe('lo');
  });

  it('skips (and counts) rows it cannot give a state to', () => {
    const result = parseSs(readFixture('ss-tanieoH-state-close-wait.txt'));
    expect(result).toEqual({ rows: [], skipped: 2 });
  });
});

describe('parseSs with a header line', () => {
  it('does not count the header as skipped and reads the same rows', () => {
    const result = parseSs(readFixture('ss-tanieo-header.txt'));
    expect(result.skipped).toBe(0);
    expect(result.rows).toHaveLength(31);
  });
});

describe('parseSs on forms this machine did not print', () => {
  it('reads older iproute2 output without brackets, and the scope inside brackets', () => {
    const text = [
      'ESTAB 0 0 ::ffff:127.0.0.1:8080 ::ffff:127.0.0.1:41000 ino:11 sk:1',
      'LISTEN 0 128 :::22 :::* ino:12 sk:2',
      'ESTAB 0 0 [fe80::1%eth0]:22 [fe80::2%eth0]:50000 ino:13 sk:3',
      'ESTAB 0 0 fe80::1%eth0:22 fe80::2:50001 ino:14 sk:4',
      'tcp ESTAB 0 0 10.0.0.1:22 10.0.0.2:50002 uid:1000 ino:15 sk:5',
    ].join('\n');
    const { rows, skipped } = parseSs(text);
    expect(skipped).toBe(0);
    expect(rows.map((r) => [r.local, r.peer])).toEqual([
      [
        { address: '127.0.0.1', port: 8080 },
        { address: '127.0.0.1', port: 41000 },
      ],
      [
        { address: '::', port: 22 },
        { address: '::', port: 0 },
      ],
      [
        { address: 'fe80::1', port: 22, scope: 'eth0' },
        { address: 'fe80::2', port: 50000, scope: 'eth0' },
      ],
      [
        { address: 'fe80::1', port: 22, scope: 'eth0' },
        { address: 'fe80::2', port: 50001 },
      ],
      [
        { address: '10.0.0.1', port: 22 },
        { address: '10.0.0.2', port: 50002 },
      ],
    ]);
    expect(rows[4]?.uid).toBe(1000);
  });

  it('counts malformed socket lines as skipped and never lends their tcp_info to others', () => {
    const text = [
      'ESTAB 0 0 127.0.0.1:1 127.0.0.1:2 ino:1',
      'ESTAB x 0 127.0.0.1:1 127.0.0.1:2 ino:2',
      '\t rtt:5/1 cwnd:7',
      'ESTAB 0 0 127.0.0.1 127.0.0.1:2 ino:3',
      'ESTAB 0 0 not-an-address:1 127.0.0.1:2 ino:4',
      'BOGUS 0 0 127.0.0.1:1 127.0.0.1:2 ino:5',
    ].join('\n');
    const { rows, skipped } = parseSs(text);
    expect(rows.map((r) => r.inode)).toEqual([1]);
    expect(rows[0]?.tcpInfo).toBeUndefined();
    expect(skipped).toBe(4);
  });
});

describe('ss durations (ss.c print_ms_timer)', () => {
  it.each([
    ['', 0],
    ['005ms', 5],
    ['200ms', 200],
    ['5.123ms', 5123], // seconds, a dot, then three digits of ms: not 5.123 ms
    ['5.003ms', 5003],
    ['12sec', 12_000], // ms dropped from 10 s up
    ['1min5sec', 65_000], // ms dropped once minutes are printed
    ['1min', 60_000],
    ['119min', 7_140_000], // seconds dropped from 10 min up
  ])('%s = %d ms', (text, ms) => {
    expect(parseSsDuration(text)).toBe(ms);
  });

  it.each(['5.ms', 'ms', '5', '1h', 'sec', '-5ms'])('rejects %s', (text) => {
    expect(parseSsDuration(text)).toBeUndefined();
  });

  it('reads whole timer tokens', () => {
    expect(parseSsTimer('timer:(on,5.123ms,2)')).toEqual({ name: 'on', expiresMs: 5123, retransmits: 2 });
    expect(parseSsTimer('timer:(keepalive,1min5sec,0)')).toEqual({ name: 'keepalive', expiresMs: 65_000, retransmits: 0 });
    expect(parseSsTimer('timer:(on,5.123ms)')).toBeUndefined();
  });
});
