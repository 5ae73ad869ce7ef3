/**
 * Unit tests of the kernel state recorder's pure parts: parsing bpftrace's lines, grouping
 * them into socket lives and timelines. No bpftrace needed; the lines are the shapes seen
 * from the tracepoint on Linux 6.x (see kernel-states.ts).
 */
import { describe, expect, it } from 'vitest';
import {
  bpftraceProgram,
  isSubsequence,
  kernelStateName,
  localEndpointsTo,
  normalizeAddress,
  parseBpftraceLine,
  socketLives,
  timelineOf,
  type KernelTransition,
} from './kernel-states.js';

const V4 = '127.0.0.1 127.0.0.1 ::ffff:127.0.0.1 ::ffff:127.0.0.1';
const V6 = '0.0.0.0 0.0.0.0 ::1 ::1';

const NETNS = 4026531833;

/** A recorder line: time, socket, netns, family, the four addresses, then ports and states. */
const line = (ns: number, sk: string, family: number, addrs: string, rest: string) => `SOCKLIFE_TCP ${ns} ${sk} ${NETNS} ${family} ${addrs} ${rest}`;

function parseAll(lines: string[]): KernelTransition[] {
  return lines.map((l) => {
    const t = parseBpftraceLine(l);
    if (t === undefined) throw new Error(`unparsed: ${l}`);
    return t;
  });
}

describe('parseBpftraceLine', () => {
  it('parses an IPv4 change, picking the v4 address fields', () => {
    expect(parseBpftraceLine(line(906008778297, 'ffff888104418940', 2, V4, '55602 42211 2 1'))).toEqual({
      timeNs: 906008778297n,
      socket: 'ffff888104418940',
      netns: NETNS,
      family: 2,
      local: { address: '127.0.0.1', port: 55602 },
      peer: { address: '127.0.0.1', port: 42211 },
      oldState: 2,
      newState: 1,
      from: 'syn_sent',
      to: 'established',
    });
  });

  it('parses an IPv6 change, picking the v6 address fields', () => {
    const t = parseBpftraceLine(line(1, 'FFFF888105A24440', 10, V6, '42849 46978 8 9'));
    expect(t).toMatchObject({
      socket: 'ffff888105a24440',
      family: 10,
      local: { address: '::1', port: 42849 },
      peer: { address: '::1', port: 46978 },
      from: 'close_wait',
      to: 'last_ack',
    });
  });

  it('reports a v4-mapped address of a dual-stack socket as IPv4', () => {
    const t = parseBpftraceLine(line(1, 'ffff1', 10, V4, '42211 55602 10 3'));
    expect(t?.local).toEqual({ address: '127.0.0.1', port: 42211 });
    expect(t?.peer).toEqual({ address: '127.0.0.1', port: 55602 });
    expect(t?.to).toBe('syn_received');
  });

  it('keeps sport 0 of CLOSE → SYN_SENT and the wildcard peer of a listener', () => {
    expect(parseBpftraceLine(line(1, 'a', 2, V4, '0 40743 7 2'))?.local.port).toBe(0);
    const listen = parseBpftraceLine(line(1, 'b', 10, '0.0.0.0 0.0.0.0 :: ::', '42211 0 7 10'));
    expect(listen?.peer).toEqual({ address: '::', port: 0 });
    expect(listen?.to).toBe('listen');
  });

  it('ignores every other line', () => {
    for (const other of [
      'Attaching 3 probes...',
      'SOCKLIFE_READY',
      'SOCKLIFE_SYNC 906000822151',
      "ERROR: Unknown error -1: couldn't set RLIMIT_MEMLOCK for bpftrace.",
      '',
      line(1, 'a', 2, V4, '55602 42211 2'), // torn
      line(1, 'a', 3, V4, '55602 42211 2 1'), // unknown family
      line(1, 'a', 2, V4, '70000 42211 2 1'), // not a port
      line(1, 'zz', 2, V4, '1 2 2 1'), // not an address
      `SOCKLIFE_TCP 1 ffff1 2 ${V4} 1 2 2 1`, // no netns field
    ]) {
      expect(parseBpftraceLine(other), other).toBeUndefined();
    }
  });
});

describe('kernelStateName', () => {
  it('maps every kernel state number to its OpenTelemetry name', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map(kernelStateName)).toEqual([
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
    expect(kernelStateName(13)).toBe('kernel_state_13');
  });
});

describe('normalizeAddress', () => {
  it('unmaps v4-mapped IPv6 and lower-cases', () => {
    expect(normalizeAddress('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeAddress('::FFFF:10.1.2.3')).toBe('10.1.2.3');
    expect(normalizeAddress('::1')).toBe('::1');
    expect(normalizeAddress('FE80::1')).toBe('fe80::1');
  });
});

describe('timelines', () => {
  // A client-ends-first connection as the tracepoint prints it, out of order as bpftrace may
  // print lines from different CPUs, with a listener and an unrelated socket in between, and
  // the client's socket address reused right after for a refused connect.
  const client = { address: '127.0.0.1', port: 48080 };
  const server = { address: '127.0.0.1', port: 37131 };
  const transitions = parseAll([
    line(10, 'a1', 2, '127.0.0.1 0.0.0.0 ::ffff:127.0.0.1 ::ffff:0.0.0.0', '37131 0 7 10'),
    line(20, 'c1', 2, V4, '0 37131 7 2'),
    line(30, 'c1', 2, V4, '48080 37131 2 1'),
    line(40, '5e', 2, V4, '37131 48080 10 3'),
    line(41, '5e', 2, V4, '37131 48080 3 1'),
    line(45, 'ee', 2, V4, '22033 29144 9 7'),
    line(60, '5e', 2, V4, '37131 48080 1 8'),
    line(50, 'c1', 2, V4, '48080 37131 1 4'),
    line(70, '5e', 2, V4, '37131 48080 8 9'),
    line(80, 'c1', 2, V4, '48080 37131 4 5'),
    line(81, 'c1', 2, V4, '48080 37131 5 7'),
    line(90, '5e', 2, V4, '37131 48080 9 7'),
    line(100, 'a1', 2, '127.0.0.1 0.0.0.0 ::ffff:127.0.0.1 ::ffff:0.0.0.0', '37131 0 10 7'),
    line(110, 'c1', 2, V4, '0 37131 7 2'),
    line(111, 'c1', 2, V4, '38678 37131 2 7'),
  ]);

  it('splits transitions into socket lives at CLOSE, also when the address is reused', () => {
    expect(socketLives(transitions).map((life) => life.map((t) => `${t.socket}:${t.to}`))).toEqual([
      ['a1:listen', 'a1:closed'],
      ['c1:syn_sent', 'c1:established', 'c1:fin_wait_1', 'c1:fin_wait_2', 'c1:closed'],
      ['5e:syn_received', '5e:established', '5e:close_wait', '5e:last_ack', '5e:closed'],
      ['ee:closed'],
      ['c1:syn_sent', 'c1:closed'],
    ]);
  });

  it('gives each side of a 4-tuple its own timeline, SYN_SENT (sport 0) included', () => {
    expect(timelineOf(transitions, client, server)).toEqual(['syn_sent', 'established', 'fin_wait_1', 'fin_wait_2', 'closed']);
    expect(timelineOf(transitions, server, client)).toEqual(['syn_received', 'established', 'close_wait', 'last_ack', 'closed']);
    expect(timelineOf(transitions, { address: '::ffff:127.0.0.1', port: 37131 }, { address: '0.0.0.0', port: 0 })).toEqual(['listen', 'closed']);
    expect(timelineOf(transitions, { address: '127.0.0.1', port: 38678 }, server)).toEqual(['syn_sent', 'closed']);
    expect(timelineOf(transitions, { address: '::1', port: 48080 }, server)).toEqual([]);
  });

  it('finds the local ports that talked to a peer', () => {
    expect(localEndpointsTo(transitions, server)).toEqual([client, { address: '127.0.0.1', port: 38678 }]);
  });
});

describe('isSubsequence', () => {
  const kernel = ['syn_sent', 'established', 'fin_wait_1', 'fin_wait_2', 'closed'];
  it('accepts a sampled timeline in kernel order', () => {
    expect(isSubsequence([], kernel)).toBe(true);
    expect(isSubsequence(['established', 'fin_wait_2', 'closed'], kernel)).toBe(true);
    expect(isSubsequence(kernel, kernel)).toBe(true);
  });
  it('rejects a reordered, invented or repeated state', () => {
    expect(isSubsequence(['fin_wait_1', 'established'], kernel)).toBe(false);
    expect(isSubsequence(['established', 'time_wait'], kernel)).toBe(false);
    expect(isSubsequence(['closed', 'closed'], kernel)).toBe(false);
  });
});

describe('bpftraceProgram', () => {
  const netnsOf = '((struct sock *)args->skaddr)->__sk_common.skc_net.net->ns.inum';
  it('filters TCP and, when asked, the ports in the kernel', () => {
    expect(bpftraceProgram({ syncPid: 42 })).toContain('tracepoint:sock:inet_sock_set_state /args->protocol == 6/');
    expect(bpftraceProgram({ ports: [80, 443] })).toContain(
      '/args->protocol == 6 && (args->sport == 80 || args->dport == 80 || args->sport == 443 || args->dport == 443)/',
    );
    expect(bpftraceProgram({ syncPid: 42 })).toContain('/pid == 42 && args->pid == 42 && args->sig == 0/');
    expect(bpftraceProgram({ syncPid: 42, markerPid: 12345678 })).toContain('/pid == 42 && args->pid == 12345678 && args->sig == 0/');
  });
  it('counts the lines it emits and prints the count on kill(own pid, 0)', () => {
    const program = bpftraceProgram({ syncPid: 42 });
    expect(program).toContain('BEGIN { @socklife_events = count();');
    // bpftrace ends when the process it syncs with exits, even by SIGKILL.
    expect(program).toContain('tracepoint:sched:sched_process_exit /tid == 42/ { exit(); }');
    expect(program).toContain('/pid == 42 && args->pid == 42 && args->sig == 0/\n{ print(@socklife_events); }');
    expect(program).toMatch(/args->newstate\);\n {2}@socklife_events = count\(\);\n\}/);
  });
  it('by default prints every TCP change; with processes, only the sockets they own', () => {
    expect(bpftraceProgram()).not.toContain('@socklife_sockets');
    const program = bpftraceProgram({ processes: [42, 43] });
    // Changes only the owner's system calls make (connect, listen, close), made by one of the
    // processes, adopt the socket...
    expect(program).toContain(
      [
        '  if ((pid == 42 || pid == 43) &&',
        '      (args->newstate == 2 || args->newstate == 10 ||',
        '       (args->oldstate == 1 && args->newstate == 4) || (args->oldstate == 8 && args->newstate == 9))) {',
        '    @socklife_sockets[$sk] = 1;',
      ].join('\n'),
    );
    // ...and so does being accepted on a port one of them listens on.
    expect(program).toContain('if (args->newstate == 10) { @socklife_listening[args->sport] = 1; }');
    expect(program).toContain('if (args->oldstate == 10 && args->newstate != 7 && @socklife_listening[args->sport]) {');
    // Only adopted sockets are printed and counted, until they close.
    expect(program).toMatch(/if \(@socklife_sockets\[\$sk\]\) \{\n {4}printf\("SOCKLIFE_TCP /);
    expect(program).toContain('    @socklife_events = count();\n    if (args->newstate == 7) {\n      delete(@socklife_sockets[$sk]);');
    expect(() => bpftraceProgram({ processes: [] })).toThrow(RangeError);
    expect(() => bpftraceProgram({ processes: [-1] })).toThrow(RangeError);
    expect(() => bpftraceProgram({ ports: [0] })).toThrow(RangeError);
    expect(() => bpftraceProgram({ ports: [1.5] })).toThrow(RangeError);
  });
  it('reads the network namespace through BTF only when asked, and filters on it', () => {
    expect(bpftraceProgram()).not.toContain('struct sock');
    expect(bpftraceProgram({ netns: 'all' })).toContain(`%d %d %d\\n", nsecs, $sk, ${netnsOf},`);
    expect(bpftraceProgram({ netns: 'all' })).toContain('/args->protocol == 6/');
    expect(bpftraceProgram({ netns: NETNS, ports: [80] })).toContain(
      `/args->protocol == 6 && ${netnsOf} == ${NETNS} && (args->sport == 80 || args->dport == 80)/`,
    );
    expect(() => bpftraceProgram({ netns: 0 })).toThrow(RangeError);
  });
});
