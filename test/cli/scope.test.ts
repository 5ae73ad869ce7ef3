import { describe, expect, it } from 'vitest';
import { countAttributed, countStates, listenerCovers, selectScope } from '../../src/cli/scope.js';
import { ALL_TCP_STATES } from '../../src/tcp-states.js';
import { PROCESS_INODES, processTable } from './fixture.js';

const rows = processTable();
const summary = (table: ReturnType<typeof selectScope>): string[] =>
  table.rows.map((s) => `${s.row.state} ${s.row.local.port}>${s.row.peer.address}:${s.row.peer.port} ${s.by}`).sort();

describe('selectScope for a process', () => {
  const table = selectScope(rows, { kind: 'pid', pid: 1, inodes: PROCESS_INODES });

  it('takes its sockets by inode, and ties sockets without one by listening port or destination', () => {
    expect(summary(table)).toEqual(
      [
        'listen 8080>0.0.0.0:0 inode',
        'listen 9090>*:0 inode',
        'close_wait 8080>127.0.0.1:50001 inode',
        'close_wait 8080>127.0.0.1:50002 inode',
        'close_wait 8080>127.0.0.1:50003 inode',
        'established 8080>127.0.0.1:50004 inode',
        'established 40010>10.0.0.7:5432 inode',
        'fin_wait_2 40011>10.0.0.8:80 inode',
        'fin_wait_1 40012>10.0.0.8:80 inode',
        'time_wait 8080>127.0.0.1:50010 listening_port',
        'time_wait 8080>127.0.0.1:50011 listening_port',
        'time_wait 8080>127.0.0.1:50012 listening_port',
        'time_wait 40020>10.0.0.7:5432 destination',
        'syn_received 8080>127.0.0.1:50020 listening_port',
      ].sort(),
    );
  });

  it('leaves out the other process and TIME_WAIT towards destinations it has no connection to, which it reports apart', () => {
    expect(table.rows.some((s) => s.row.inode === 200)).toBe(false);
    expect(table.unattributedTimeWait.map((r) => `${r.peer.address}:${r.peer.port}`)).toEqual(['10.0.0.9:443', '10.0.0.9:443']);
  });

  it('knows the destinations of its client connections (not the clients of its listeners)', () => {
    expect([...table.destinations].sort()).toEqual(['10.0.0.7 5432', '10.0.0.8 80']);
  });

  it('ties TIME_WAIT to a destination remembered from an earlier look (watch)', () => {
    const remembered = selectScope(rows, { kind: 'pid', pid: 1, inodes: PROCESS_INODES }, ['10.0.0.9 443']);
    expect(remembered.unattributedTimeWait).toEqual([]);
    expect(remembered.rows.filter((s) => s.row.peer.address === '10.0.0.9').map((s) => s.by)).toEqual(['destination', 'destination']);
  });

  it('with a port too, keeps only the rows on it', () => {
    const onPort = selectScope(rows, { kind: 'pid', pid: 1, inodes: PROCESS_INODES, port: 80 });
    expect(summary(onPort)).toEqual(['fin_wait_1 40012>10.0.0.8:80 inode', 'fin_wait_2 40011>10.0.0.8:80 inode']);
    expect(onPort.unattributedTimeWait).toEqual([]);
  });

  it('counts all eleven states, and apart those tied without an inode', () => {
    const counts = countStates(table.rows);
    expect(Object.keys(counts).sort()).toEqual([...ALL_TCP_STATES].sort());
    expect(counts).toEqual({
      closed: 0,
      listen: 2,
      syn_sent: 0,
      syn_received: 1,
      established: 2,
      fin_wait_1: 1,
      fin_wait_2: 1,
      close_wait: 3,
      closing: 0,
      last_ack: 0,
      time_wait: 4,
    });
    expect(countAttributed(table.rows)).toEqual({ time_wait: 4, syn_received: 1 });
  });
});

describe('selectScope for a port and for the namespace', () => {
  it('--port takes every row with that local or peer port, whoever holds it', () => {
    const table = selectScope(rows, { kind: 'port', port: 5432 });
    expect(summary(table)).toEqual(['established 40010>10.0.0.7:5432 port', 'time_wait 40020>10.0.0.7:5432 port']);
  });

  it('no target takes everything', () => {
    const table = selectScope(rows, { kind: 'netns' });
    expect(table.rows).toHaveLength(rows.length);
    expect(countAttributed(table.rows)).toEqual({});
  });
});

describe('listenerCovers', () => {
  it('matches the port, and the address unless the listener is a wildcard', () => {
    const local = { address: '10.1.2.3', port: 80 };
    expect(listenerCovers({ address: '0.0.0.0', port: 80 }, local)).toBe(true);
    expect(listenerCovers({ address: '::', port: 80 }, local)).toBe(true);
    expect(listenerCovers({ address: '*', port: 80 }, local)).toBe(true);
    expect(listenerCovers({ address: '10.1.2.3', port: 80 }, local)).toBe(true);
    expect(listenerCovers({ address: '127.0.0.1', port: 80 }, local)).toBe(false);
    expect(listenerCovers({ address: '0.0.0.0', port: 81 }, local)).toBe(false);
  });
});
