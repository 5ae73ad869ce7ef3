/**
 * Kernel truth for tests: records every TCP state change the kernel makes, from the
 * tracepoint `sock:inet_sock_set_state`, with bpftrace, so that a test can hold socklife's
 * per-connection state timeline against the kernel's own.
 *
 *   const recorder = await startKernelStateRecorder();   // resolves once bpftrace is attached
 *   try {
 *     ... open and close sockets ...
 *     await recorder.sync();
 *     expect(recorder.timeline(local, peer)).toEqual(['syn_sent', 'established', ...]);
 *   } finally {
 *     await recorder.stop();
 *   }
 *
 * Needs root, `bpftrace` (Debian package) and tracefs at /sys/kernel/tracing;
 * `canTraceKernel()` says why not when they are missing.
 *
 * What the tracepoint shows (Linux 6.x, loopback, seen on this testbed):
 *
 * - Active open: `CLOSE → SYN_SENT` is reported with sport 0 (the ephemeral port is chosen
 *   after the state change), then `SYN_SENT → ESTABLISHED` with the real port. The two are
 *   tied together by the socket's kernel address (`skaddr`), which is how `timeline()` finds
 *   the SYN_SENT step of a 4-tuple.
 * - Passive open: the request socket's NEW_SYN_RECV (12) is NOT reported (the kernel sets it
 *   without `inet_sk_set_state`). The full socket, cloned from the listener, is reported as
 *   `LISTEN → SYN_RECV` then `SYN_RECV → ESTABLISHED`, both at once when the final ACK arrives.
 * - The side that closes first: `ESTABLISHED → FIN_WAIT1 → FIN_WAIT2 → CLOSE`. TIME_WAIT is
 *   never reported: at FIN_WAIT2 → CLOSE the full socket hands over to a TIME_WAIT mini-socket
 *   that the tracepoint does not cover. (CLOSING → CLOSE likewise for a simultaneous close.)
 * - The other side: `ESTABLISHED → CLOSE_WAIT → LAST_ACK → CLOSE`.
 * - Refused connect: `CLOSE → SYN_SENT` (sport 0), `SYN_SENT → CLOSE`.
 * - Abortive close (`resetAndDestroy()`, SO_LINGER 0): `ESTABLISHED → CLOSE` on the side
 *   that resets, and `ESTABLISHED → CLOSE` on the side that receives the RST.
 * - A listener: `CLOSE → LISTEN`, `LISTEN → CLOSE`, with daddr the wildcard and dport 0.
 * - A dual-stack socket (listening on `::`, talking to 127.0.0.1) has family AF_INET6 and
 *   v4-mapped v6 addresses; this harness reports them as plain IPv4 (`127.0.0.1`).
 * - Socket addresses (`skaddr`) are reused at once after a socket is freed, so a socket's
 *   "life" ends at its transition to CLOSE; the next transition on that address is a new one.
 * - The tracepoint sees the whole machine, every network namespace included: other
 *   processes' connections show up too (a load test on the same machine makes 100 000+
 *   changes a second, more than bpftrace prints without lagging), and the same loopback
 *   4-tuple can exist in two namespaces. So by default the recorder keeps, in the kernel,
 *   only the sockets of this process (`processes`), and tests select by 4-tuple. Asked
 *   for, it also reads each socket's network namespace (`netns`, through BTF:
 *   /sys/kernel/btf/vmlinux), which makes bpftrace take ~1.5 s longer to start.
 * - The pid current at a state change does not say whose socket it is: on loopback the
 *   receiving socket's softirq work runs in the process that sent the segment.
 *
 * How the recorder knows it is attached and up to date: bpftrace prints a line from BEGIN
 * once every probe is attached (rather than trusting "Attaching N probes...", which comes
 * before). bpftrace reads one perf buffer per CPU, so its lines from different CPUs can come
 * out of order; `sync()` therefore asks the kernel side how many lines it has emitted (a
 * count map printed on a marker syscall) and waits for that many.
 */
import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { access, readdir, readlink } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { TcpState } from '../../src/tcp-states.js';

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** Address families as the kernel numbers them. */
export const AF_INET = 2;
export const AF_INET6 = 10;

/** Kernel TCP state numbers (include/net/tcp_states.h). */
export const KernelTcpState = {
  ESTABLISHED: 1,
  SYN_SENT: 2,
  SYN_RECV: 3,
  FIN_WAIT1: 4,
  FIN_WAIT2: 5,
  TIME_WAIT: 6,
  CLOSE: 7,
  CLOSE_WAIT: 8,
  LAST_ACK: 9,
  LISTEN: 10,
  CLOSING: 11,
  NEW_SYN_RECV: 12,
} as const;

const SEMCONV_BY_KERNEL_STATE: ReadonlyMap<number, TcpState> = new Map<number, TcpState>([
  [KernelTcpState.ESTABLISHED, TcpState.Established],
  [KernelTcpState.SYN_SENT, TcpState.SynSent],
  [KernelTcpState.SYN_RECV, TcpState.SynReceived],
  [KernelTcpState.FIN_WAIT1, TcpState.FinWait1],
  [KernelTcpState.FIN_WAIT2, TcpState.FinWait2],
  [KernelTcpState.TIME_WAIT, TcpState.TimeWait],
  [KernelTcpState.CLOSE, TcpState.Closed],
  [KernelTcpState.CLOSE_WAIT, TcpState.CloseWait],
  [KernelTcpState.LAST_ACK, TcpState.LastAck],
  [KernelTcpState.LISTEN, TcpState.Listen],
  [KernelTcpState.CLOSING, TcpState.Closing],
  [KernelTcpState.NEW_SYN_RECV, TcpState.SynReceived],
]);

/**
 * The OpenTelemetry `network.connection.state` name of a kernel state number
 * (NEW_SYN_RECV → `syn_received`); `kernel_state_<n>` for a number the kernel may add later.
 */
export function kernelStateName(state: number): string {
  return SEMCONV_BY_KERNEL_STATE.get(state) ?? `kernel_state_${state}`;
}

/** One state change of one kernel socket, as the tracepoint reported it. */
export interface KernelTransition {
  /** bpftrace `nsecs`: CLOCK_MONOTONIC, the same clock as `process.hrtime.bigint()`. */
  readonly timeNs: bigint;
  /** Kernel address of the socket (`skaddr`, hex). Reused as soon as the socket is freed. */
  readonly socket: string;
  /** Inode of the socket's network namespace (as in `/proc/PID/ns/net`); 0 when unknown (no BTF). */
  readonly netns: number;
  /** AF_INET (2) or AF_INET6 (10): the socket's family, also for v4-mapped addresses. */
  readonly family: number;
  /** saddr:sport — the socket changing state. sport is 0 on `CLOSE → SYN_SENT`. */
  readonly local: Endpoint;
  /** daddr:dport — its peer (wildcard and port 0 for a listener). */
  readonly peer: Endpoint;
  readonly oldState: number;
  readonly newState: number;
  /** `oldState` / `newState` as OpenTelemetry names, see `kernelStateName`. */
  readonly from: string;
  readonly to: string;
}

/** Prefix of the lines the bpftrace program prints for a state change. */
const EVENT_TAG = 'SOCKLIFE_TCP';
/** Printed by the BEGIN probe, i.e. once every probe is attached. */
const READY_TAG = 'SOCKLIFE_READY';
/**
 * Per-CPU count of the state-change lines the kernel side has emitted (BEGIN adds 1, so it
 * is never empty). Printed as `@socklife_events: N` when this process calls
 * kill(<the recorder's marker pid>, 0).
 */
const COUNT_MAP = '@socklife_events';
const COUNT_LINE = /^@socklife_events: (\d+)$/;
/** What bpftrace prints when a per-CPU perf buffer overflowed. */
const LOST_LINE = /Lost (\d+) events/;
/** Per-CPU perf buffer size for bpftrace (pages); its default of 64 can overflow under load. */
const PERF_RB_PAGES = '1024';

/** `::ffff:127.0.0.1` → `127.0.0.1`; other addresses unchanged (lower-cased). */
export function normalizeAddress(address: string): string {
  const lower = address.toLowerCase();
  const mapped = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(lower);
  return mapped?.[1] ?? lower;
}

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 0xffff ? port : undefined;
}

/**
 * Parses one line of the recorder's bpftrace output:
 *
 *   SOCKLIFE_TCP <nsecs> <skaddr hex> <netns inode> <family> <saddr> <daddr> <saddr_v6> <daddr_v6> <sport> <dport> <oldstate> <newstate>
 *
 * The v4 and v6 address fields are both printed (with `ntop`); the family picks which one
 * counts, and a v4-mapped v6 address is reported as IPv4. Returns undefined for any other
 * line (bpftrace's "Attaching N probes...", warnings, markers, a torn line).
 */
export function parseBpftraceLine(line: string): KernelTransition | undefined {
  const fields = line.trim().split(/\s+/);
  if (fields.length !== 13 || fields[0] !== EVENT_TAG) return undefined;
  const [, nsecs, skaddr, netnsText, familyText, saddr4, daddr4, saddr6, daddr6, sportText, dportText, oldText, newText] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (!/^\d+$/.test(nsecs) || !/^(0x)?[0-9a-f]+$/i.test(skaddr) || !/^\d+$/.test(netnsText)) return undefined;
  if (!/^\d+$/.test(familyText) || !/^\d+$/.test(oldText) || !/^\d+$/.test(newText)) return undefined;
  const family = Number(familyText);
  if (family !== AF_INET && family !== AF_INET6) return undefined;
  const sport = parsePort(sportText);
  const dport = parsePort(dportText);
  if (sport === undefined || dport === undefined) return undefined;
  const oldState = Number(oldText);
  const newState = Number(newText);
  const [saddr, daddr] = family === AF_INET ? [saddr4, daddr4] : [saddr6, daddr6];
  return {
    timeNs: BigInt(nsecs),
    socket: skaddr.toLowerCase().replace(/^0x/, ''),
    netns: Number(netnsText),
    family,
    local: { address: normalizeAddress(saddr), port: sport },
    peer: { address: normalizeAddress(daddr), port: dport },
    oldState,
    newState,
    from: kernelStateName(oldState),
    to: kernelStateName(newState),
  };
}

/**
 * Splits transitions (any order) into socket lives: the transitions of one kernel socket from
 * its first reported change to its change to CLOSE. A socket address seen again after CLOSE,
 * or a `CLOSE → x` / `LISTEN → SYN_RECV` change (a socket starting, or a child cloned from a
 * listener), starts a new life.
 */
export function socketLives(transitions: readonly KernelTransition[]): KernelTransition[][] {
  const sorted = [...transitions].sort((a, b) => (a.timeNs < b.timeNs ? -1 : a.timeNs > b.timeNs ? 1 : 0));
  const lives: KernelTransition[][] = [];
  const open = new Map<string, KernelTransition[]>();
  for (const t of sorted) {
    let life = open.get(t.socket);
    const last = life?.[life.length - 1];
    const starts =
      life === undefined ||
      last?.newState === KernelTcpState.CLOSE ||
      t.oldState === KernelTcpState.CLOSE ||
      (t.oldState === KernelTcpState.LISTEN && t.newState !== KernelTcpState.CLOSE);
    if (starts) {
      life = [];
      lives.push(life);
      open.set(t.socket, life);
    }
    life!.push(t);
  }
  return lives;
}

function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a.port === b.port && normalizeAddress(a.address) === normalizeAddress(b.address);
}

/**
 * The transitions of every socket life that, at some point, had exactly this 4-tuple seen
 * from `local` — including its `CLOSE → SYN_SENT` step reported with sport 0. In time order;
 * several lives (the same 4-tuple reused) follow each other.
 */
export function transitionsFor(transitions: readonly KernelTransition[], local: Endpoint, peer: Endpoint): KernelTransition[] {
  return socketLives(transitions)
    .filter((life) => life.some((t) => sameEndpoint(t.local, local) && sameEndpoint(t.peer, peer)))
    .flat()
    .sort((a, b) => (a.timeNs < b.timeNs ? -1 : a.timeNs > b.timeNs ? 1 : 0));
}

/**
 * The local endpoints (with a real port) of every socket that talked to `peer`, first seen
 * first. For when Node never learns its local port, e.g. a refused connect.
 */
export function localEndpointsTo(transitions: readonly KernelTransition[], peer: Endpoint): Endpoint[] {
  const seen = new Map<string, Endpoint>();
  for (const life of socketLives(transitions)) {
    for (const t of life) {
      if (t.local.port !== 0 && sameEndpoint(t.peer, peer)) seen.set(`${t.local.address} ${t.local.port}`, t.local);
    }
  }
  return [...seen.values()];
}

/** The NEW states (OpenTelemetry names) of `transitionsFor(...)`, in order. */
export function timelineOf(transitions: readonly KernelTransition[], local: Endpoint, peer: Endpoint): string[] {
  return transitionsFor(transitions, local, peer).map((t) => t.to);
}

/**
 * True when `observed` is an in-order subsequence of `kernel` (each observed state found in
 * `kernel` after the previous one). For a sampled timeline (socket events, ss polling) that
 * may miss states but must never invent or reorder them.
 */
export function isSubsequence(observed: readonly string[], kernel: readonly string[]): boolean {
  let i = 0;
  for (const state of kernel) {
    if (i < observed.length && observed[i] === state) i++;
  }
  return i === observed.length;
}

export interface KernelStateRecorderOptions {
  /**
   * Record only changes whose sport or dport is one of these (filtered in the kernel). Must
   * include the server's port to see the client's `CLOSE → SYN_SENT` (it has sport 0).
   * Default: any port.
   */
  readonly ports?: readonly number[];
  /**
   * Whose sockets to record: sockets these processes connect, listen on, accept, or close
   * (filtered in the kernel; see `bpftraceProgram`), or `'all'`. Sockets must be opened
   * (connect/listen) after the recorder started to be followed from their first state.
   * Default: this process only, which is what socklife itself can see; it keeps the recorder
   * independent of whatever else runs on the machine (load tests make 100 000+ changes a
   * second, enough to make bpftrace lag or lose events).
   */
  readonly processes?: readonly number[] | 'all';
  /**
   * Read each socket's network namespace (`KernelTransition.netns`, through kernel BTF) and
   * keep only the one with this inode (`netnsInode(pid)`), or keep `'all'`. Costs ~1.5 s
   * of bpftrace start-up (it parses `struct sock`). Default: not read (`netns` is 0), no
   * namespace filter; `processes` already keeps only the sockets asked for.
   */
  readonly netns?: number | 'all';
  /** How long to wait for bpftrace to attach, in ms. Default 20 000. */
  readonly attachTimeoutMs?: number;
}

export interface KernelStateRecorder {
  /** Pid of the bpftrace process. */
  readonly pid: number;
  /** The network namespace recorded (inode), or undefined when not filtered on one. */
  readonly netns: number | undefined;
  /** How long bpftrace took from spawn to attached (BEGIN printed and a sync round-trip), ms. */
  readonly attachMs: number;
  /** Every transition read so far, in time order. */
  transitions(): KernelTransition[];
  /** New states (OpenTelemetry names) of this 4-tuple seen from `local`, read so far. */
  timeline(local: Endpoint, peer: Endpoint): string[];
  /** The transitions behind `timeline(local, peer)`. */
  transitionsFor(local: Endpoint, peer: Endpoint): KernelTransition[];
  /** See `localEndpointsTo`: which local endpoints talked to `peer`, read so far. */
  localEndpointsTo(peer: Endpoint): Endpoint[];
  /**
   * Resolves once every state change the kernel reported before this call has been read.
   * bpftrace reads one perf buffer per CPU, so lines from different CPUs can come out of
   * order and a marker alone proves nothing about the other CPUs. Instead the kernel side
   * counts the lines it emits; kill(marker pid, 0) (a pid that cannot exist: ESRCH) makes
   * bpftrace print that count, and sync waits until as many lines (plus any lost) are read.
   */
  sync(timeoutMs?: number): Promise<void>;
  /**
   * Events bpftrace reported lost (a perf buffer overflowed: the machine made TCP state
   * changes faster than bpftrace read them). Non-zero means a timeline may have gaps.
   */
  lostEvents(): number;
  /**
   * Waits until `predicate(timeline(local, peer))` holds (re-checked after each line read);
   * rejects after `timeoutMs` (default 5 000) with the timeline seen.
   */
  waitForTimeline(local: Endpoint, peer: Endpoint, predicate: (timeline: string[]) => boolean, timeoutMs?: number): Promise<string[]>;
  /** Syncs, ends bpftrace (SIGINT, then SIGKILL) and returns every transition. Idempotent. */
  stop(): Promise<KernelTransition[]>;
}

const TRACEFS = '/sys/kernel/tracing';
const TRACEPOINT_FORMAT = `${TRACEFS}/events/sock/inet_sock_set_state/format`;
const KILL_TRACEPOINT_FORMAT = `${TRACEFS}/events/syscalls/sys_enter_kill/format`;
const EXIT_TRACEPOINT_FORMAT = `${TRACEFS}/events/sched/sched_process_exit/format`;
/** Kernel type information: lets bpftrace read `struct sock` (for the netns) without headers. */
const KERNEL_BTF = '/sys/kernel/btf/vmlinux';

/** Inode of a process's network namespace: `/proc/PID/ns/net` → `net:[4026531833]`. */
export async function netnsInode(pid: number | 'self' = 'self'): Promise<number> {
  const link = await readlink(`/proc/${pid}/ns/net`);
  const match = /^net:\[(\d+)\]$/.exec(link);
  if (!match) throw new Error(`unexpected /proc/${pid}/ns/net: ${link}`);
  return Number(match[1]);
}

async function hasKernelBtf(): Promise<boolean> {
  try {
    await access(KERNEL_BTF);
    return true;
  } catch {
    return false;
  }
}

let canTrace: Promise<string | undefined> | undefined;

/**
 * Undefined when the recorder can run here; otherwise why not. Checks Linux, root, tracefs
 * mounted with the `sock:inet_sock_set_state` tracepoint, and that bpftrace is on PATH and can
 * load a program. The answer is cached for the process.
 */
export function canTraceKernel(): Promise<string | undefined> {
  canTrace ??= checkCanTrace();
  return canTrace;
}

async function checkCanTrace(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `bpftrace needs Linux, this is ${process.platform}`;
  if (process.getuid?.() !== 0) return 'bpftrace needs root';
  let events: string[];
  try {
    events = await readdir(`${TRACEFS}/events`);
  } catch {
    events = [];
  }
  if (events.length === 0) {
    return `tracefs is not mounted at ${TRACEFS} (mount -t tracefs nodev ${TRACEFS})`;
  }
  try {
    await access(TRACEPOINT_FORMAT);
  } catch {
    return `the kernel has no tracepoint sock:inet_sock_set_state (${TRACEPOINT_FORMAT} missing)`;
  }
  for (const [name, format] of [
    ['syscalls:sys_enter_kill', KILL_TRACEPOINT_FORMAT],
    ['sched:sched_process_exit', EXIT_TRACEPOINT_FORMAT],
  ] as const) {
    try {
      await access(format);
    } catch {
      return `the kernel has no tracepoint ${name} (${format} missing)`;
    }
  }
  const result = await execa('bpftrace', ['-e', 'BEGIN { printf("ok\\n"); exit(); }'], {
    reject: false,
    timeout: 20_000,
    stdin: 'ignore',
    env: { LC_ALL: 'C' },
  });
  const notFound = (result as { code?: string }).code === 'ENOENT';
  if (notFound) return 'bpftrace is not on PATH (Debian package bpftrace)';
  if (result.exitCode !== 0 || !String(result.stdout).includes('ok')) {
    const why = String(result.stderr).trim() || result.shortMessage || `exit code ${result.exitCode}`;
    return `bpftrace cannot run a program here: ${why}`;
  }
  return undefined;
}

export interface BpftraceProgramOptions {
  /** See `KernelStateRecorderOptions.ports`. */
  readonly ports?: readonly number[];
  /** See `KernelStateRecorderOptions.processes`. Default: all. */
  readonly processes?: readonly number[] | 'all';
  /**
   * The process that syncs: its kill(markerPid, 0) prints the event count, and its exit ends
   * bpftrace (so a test process killed with SIGKILL leaves no bpftrace behind). Default:
   * this process.
   */
  readonly syncPid?: number;
  /**
   * The pid `syncPid` sends signal 0 to as the sync marker; one per recorder, so two
   * recorders in one process do not answer each other's markers. Default: `syncPid` itself.
   */
  readonly markerPid?: number;
  /**
   * Read each socket's network namespace through BTF (`struct sock`) and print it; with a
   * number, keep only that namespace. False (no BTF): print 0, keep all.
   */
  readonly netns?: number | 'all' | false;
}

function checkPid(pid: number): number {
  if (!Number.isInteger(pid) || pid < 1) throw new RangeError(`not a pid: ${pid}`);
  return pid;
}

/**
 * The bpftrace program: one line per TCP state change, the READY line from BEGIN, and the
 * count of lines emitted (`@socklife_events: N`) whenever `syncPid` calls kill(itself, 0).
 *
 * With `processes`, a socket is followed from a change that only a system call of the
 * owning process makes, made by one of those processes: connect (→ SYN_SENT), listen
 * (→ LISTEN), or, for a socket opened before recording, close/shutdown (ESTABLISHED →
 * FIN_WAIT1, CLOSE_WAIT → LAST_ACK); or when it is accepted on a port one of them listens on
 * (LISTEN → SYN_RECV). From then on every change of that socket is printed, whichever
 * context makes it, until it reaches CLOSE. The current pid alone does not tell whose socket
 * changes: on loopback the receiving socket's softirq work (SYN_SENT → ESTABLISHED,
 * FIN_WAIT2 → CLOSE, ...) runs in the process that sent the segment, i.e. often the peer.
 */
export function bpftraceProgram(options: BpftraceProgramOptions = {}): string {
  const { ports = [], processes = 'all', netns = false } = options;
  const syncPid = checkPid(options.syncPid ?? process.pid);
  const markerPid = checkPid(options.markerPid ?? syncPid);
  for (const port of ports) {
    if (!Number.isInteger(port) || port < 1 || port > 0xffff) throw new RangeError(`not a port: ${port}`);
  }
  if (processes !== 'all') {
    if (processes.length === 0) throw new RangeError('processes: give at least one pid, or "all"');
    processes.forEach(checkPid);
  }
  if (typeof netns === 'number' && (!Number.isInteger(netns) || netns < 1)) {
    throw new RangeError(`not a netns inode: ${netns}`);
  }
  const portFilter = ports.length === 0 ? '' : ` && (${ports.map((p) => `args->sport == ${p} || args->dport == ${p}`).join(' || ')})`;
  const netnsOf = '((struct sock *)args->skaddr)->__sk_common.skc_net.net->ns.inum';
  const netnsFilter = typeof netns === 'number' ? ` && ${netnsOf} == ${netns}` : '';
  const netnsField = netns === false ? '(uint32)0' : netnsOf;
  const emit = [
    `printf("${EVENT_TAG} %llu %llx %u %d %s %s %s %s %d %d %d %d\\n", nsecs, $sk, ${netnsField},`,
    '  args->family,',
    '  ntop(args->saddr), ntop(args->daddr), ntop(args->saddr_v6), ntop(args->daddr_v6),',
    '  args->sport, args->dport, args->oldstate, args->newstate);',
    `${COUNT_MAP} = count();`,
  ];
  const body =
    processes === 'all'
      ? emit
      : [
          `if ((${processes.map((pid) => `pid == ${pid}`).join(' || ')}) &&`,
          '    (args->newstate == 2 || args->newstate == 10 ||',
          '     (args->oldstate == 1 && args->newstate == 4) || (args->oldstate == 8 && args->newstate == 9))) {',
          '  @socklife_sockets[$sk] = 1;',
          '  if (args->newstate == 10) { @socklife_listening[args->sport] = 1; }',
          '}',
          'if (args->oldstate == 10 && args->newstate != 7 && @socklife_listening[args->sport]) {',
          '  @socklife_sockets[$sk] = 1;',
          '}',
          'if (@socklife_sockets[$sk]) {',
          ...emit.map((line) => `  ${line}`),
          '  if (args->newstate == 7) {',
          '    delete(@socklife_sockets[$sk]);',
          '    if (args->oldstate == 10) { delete(@socklife_listening[args->sport]); }',
          '  }',
          '}',
        ];
  return [
    `BEGIN { ${COUNT_MAP} = count(); printf("${READY_TAG}\\n"); }`,
    `tracepoint:syscalls:sys_enter_kill /pid == ${syncPid} && args->pid == ${markerPid} && args->sig == 0/`,
    `{ print(${COUNT_MAP}); }`,
    `tracepoint:sched:sched_process_exit /tid == ${syncPid}/ { exit(); }`,
    `tracepoint:sock:inet_sock_set_state /args->protocol == 6${netnsFilter}${portFilter}/`,
    '{',
    '  $sk = (uint64)args->skaddr;',
    ...body.map((line) => `  ${line}`),
    '}',
    `END { clear(${COUNT_MAP});${processes === 'all' ? '' : ' clear(@socklife_sockets); clear(@socklife_listening);'} }`,
    '',
  ].join('\n');
}

/**
 * Spawns bpftrace on `sock:inet_sock_set_state` and resolves once it is attached: its BEGIN
 * probe has printed and a sync marker made the round trip. Call `stop()` when done (also when
 * the test fails); bpftrace is killed when this process exits anyway.
 */
export async function startKernelStateRecorder(options: KernelStateRecorderOptions = {}): Promise<KernelStateRecorder> {
  const wanted = options.netns;
  if (wanted !== undefined && !(await hasKernelBtf())) {
    throw new Error(`reading sockets' network namespace needs kernel BTF (${KERNEL_BTF})`);
  }
  const processes = options.processes ?? [process.pid];
  // Above the kernel's largest pid_max (2^22), so no process has it and kill() only fails.
  const markerPid = randomInt(10_000_000, 2_000_000_000);
  const program = bpftraceProgram({
    ports: options.ports ?? [],
    processes,
    netns: wanted ?? false,
    markerPid,
  });
  const attachTimeoutMs = options.attachTimeoutMs ?? 20_000;
  const started = performance.now();

  const child = execa('bpftrace', ['-B', 'none', '-e', program], {
    reject: false,
    buffer: false,
    stdin: 'ignore',
    cleanup: true,
    forceKillAfterDelay: false, // stop() does its own
    env: { LC_ALL: 'C', BPFTRACE_PERF_RB_PAGES: PERF_RB_PAGES },
  });

  const transitions: KernelTransition[] = [];
  const stderrLines: string[] = [];
  let ready = false;
  /** Replies to kill(own pid, 0) read so far, and the latest count (minus BEGIN's 1). */
  let countReplies = 0;
  let emitted = 0;
  let lost = 0;
  /** State-change lines read, parsed or not (compared with the kernel's count). */
  let eventLines = 0;
  let exited = false;
  const listeners = new Set<() => void>();
  // Waiters are re-checked once per batch of lines, not per line (timelines are rebuilt).
  let notifyScheduled = false;
  const notify = () => {
    if (notifyScheduled) return;
    notifyScheduled = true;
    setImmediate(() => {
      notifyScheduled = false;
      for (const listener of [...listeners]) listener();
    });
  };

  const onLine = (line: string, fromStderr: boolean) => {
    if (line.startsWith(`${EVENT_TAG} `)) eventLines++;
    const transition = parseBpftraceLine(line);
    if (transition !== undefined) {
      transitions.push(transition);
    } else if (line.startsWith(READY_TAG)) {
      ready = true;
    } else if (COUNT_LINE.test(line)) {
      countReplies++;
      emitted = Math.max(emitted, Number(COUNT_LINE.exec(line)![1]) - 1);
    } else if (fromStderr || line.trim() !== '') {
      // "Attaching N probes...", the RLIMIT_MEMLOCK notice, errors: kept for error messages.
      const lostMatch = LOST_LINE.exec(line);
      if (lostMatch) lost += Number(lostMatch[1]);
      stderrLines.push(line);
      if (stderrLines.length > 50) stderrLines.shift();
    }
    notify();
  };
  const stdoutLines = createInterface({ input: child.stdout, crlfDelay: Infinity });
  const stderrReader = createInterface({ input: child.stderr, crlfDelay: Infinity });
  stdoutLines.on('line', (line) => onLine(line, false));
  stderrReader.on('line', (line) => onLine(line, true));
  // Exited once the process is gone and every line it wrote has been read.
  const finished = Promise.all([child, once(stdoutLines, 'close'), once(stderrReader, 'close')]).then(([result]) => {
    exited = true;
    notify();
    return result;
  });

  /** Resolves when `condition()` holds, re-checked on every line; rejects on exit or timeout. */
  const until = (condition: () => boolean, timeoutMs: number, what: () => string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (condition()) {
          done();
          resolve();
        } else if (exited) {
          done();
          reject(new Error(`bpftrace exited while waiting for ${what()}: ${stderrLines.join('\n')}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}; bpftrace said: ${stderrLines.join('\n')}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });

  const sync = async (timeoutMs = 5_000): Promise<void> => {
    const deadline = performance.now() + timeoutMs;
    const target = countReplies + 1;
    try {
      process.kill(markerPid, 0);
    } catch {
      // ESRCH, as intended: the syscall was made, and that is the marker.
    }
    await until(
      () => countReplies >= target,
      timeoutMs,
      () => 'the event count (sync marker)',
    );
    const wanted = emitted;
    await until(
      () => eventLines + lost >= wanted,
      Math.max(1, deadline - performance.now()),
      () => `all ${wanted} state changes the kernel emitted (read ${eventLines}, lost ${lost})`,
    );
  };

  const kill = async () => {
    if (!exited) child.kill('SIGKILL');
    await finished;
  };

  try {
    await until(
      () => ready,
      attachTimeoutMs,
      () => 'bpftrace to attach',
    );
    await sync(attachTimeoutMs);
  } catch (error) {
    await kill();
    throw error;
  }
  const attachMs = performance.now() - started;

  const sorted = () => [...transitions].sort((a, b) => (a.timeNs < b.timeNs ? -1 : a.timeNs > b.timeNs ? 1 : 0));
  let stopping: Promise<KernelTransition[]> | undefined;

  return {
    pid: child.pid!,
    netns: typeof wanted === 'number' ? wanted : undefined,
    attachMs,
    transitions: sorted,
    timeline: (local, peer) => timelineOf(transitions, local, peer),
    transitionsFor: (local, peer) => transitionsFor(transitions, local, peer),
    localEndpointsTo: (peer) => localEndpointsTo(transitions, peer),
    sync,
    lostEvents: () => lost,
    async waitForTimeline(local, peer, predicate, timeoutMs = 5_000) {
      try {
        await until(
          () => predicate(timelineOf(transitions, local, peer)),
          timeoutMs,
          () => `the kernel timeline of ${local.address}:${local.port} → ${peer.address}:${peer.port}`,
        );
      } catch (error) {
        const seen = timelineOf(transitions, local, peer).join(', ');
        const gaps = lost > 0 ? ` (bpftrace lost ${lost} events: the timeline may have gaps)` : '';
        throw new Error(`${(error as Error).message}\ntimeline seen: [${seen}]${gaps}`, { cause: error });
      }
      return timelineOf(transitions, local, peer);
    },
    stop() {
      stopping ??= (async () => {
        if (!exited) {
          try {
            await sync(2_000);
          } catch {
            // Stop anyway; what was read is returned.
          }
        }
        // bpftrace 0.17 sometimes misses a SIGINT that arrives while it is not blocked in
        // epoll_wait (it then sleeps there until the next event): send it again until it
        // exits, and SIGKILL after 5 s.
        if (!exited) child.kill('SIGINT');
        const resend = setInterval(() => {
          if (!exited) child.kill('SIGINT');
        }, 200);
        const forceKill = setTimeout(() => {
          if (!exited) child.kill('SIGKILL');
        }, 5_000);
        await finished;
        clearInterval(resend);
        clearTimeout(forceKill);
        return sorted();
      })();
      return stopping;
    },
  };
}
