import type { PortRange } from '../observe/kernel/kernel-counters.js';
import type { Endpoint, KernelSocketRow } from '../observe/kernel/rows.js';
import { TcpState } from '../tcp-states.js';
import type { Thresholds } from './args.js';
import { countAttributed, countStates, endpointKey, listenerCovers, type Attribution, type ScopedRow, type ScopedTable, type StateCounts } from './scope.js';

/** An endpoint in the JSON: the address as the kernel table gives it (IPv4-mapped IPv6 unwrapped), `*` for a wildcard. */
export interface EndpointJson {
  readonly address: string;
  readonly port: number;
}

export interface SocketEntry {
  readonly state: TcpState;
  readonly local: EndpointJson;
  readonly peer: EndpointJson;
  /** 0 for a socket no process holds (TIME_WAIT, an orphan); see attributedBy. */
  readonly inode: number;
  readonly attributedBy: Attribution;
  /**
   * Milliseconds since the socket last received an ACK (tcp_info `lastack`). In CLOSE_WAIT
   * the peer's FIN carried it, in FIN_WAIT_2 the ACK of our FIN: unless data moved since,
   * this is how long the socket has been in its state, and never more. null: unknown
   * (read from /proc, which has no tcp_info).
   */
  readonly durationMs: number | null;
  /** Bytes received that the process has not read; a received FIN, which takes one unit of Recv-Q, is left out. */
  readonly unreadBytes: number;
  readonly recvQ: number;
  readonly sendQ: number;
  readonly timer: { readonly name: string; readonly expiresMs: number; readonly retransmits: number } | null;
}

interface FindingText {
  /** One line: what was found. */
  readonly summary: string;
  /** What it means, in TCP terms and for the application. */
  readonly meaning: string;
  /** What to do about it. */
  readonly advice: string;
}

export interface SocketFinding extends FindingText {
  readonly type: 'close_wait' | 'fin_wait_2' | 'fin_wait_1';
  /** Sockets at or over the threshold, or of unknown age; oldest first. */
  readonly count: number;
  readonly thresholdMs: number;
  readonly sockets: readonly SocketEntry[];
}

export interface TimeWaitFinding extends FindingText {
  readonly type: 'time_wait';
  /** client: this side opened the connections (towards `peer`); server: they came in on `localPort`. */
  readonly side: 'client' | 'server';
  readonly count: number;
  readonly threshold: number;
  /** client side: the destination. */
  readonly peer: EndpointJson | null;
  /** server side: the listening port. */
  readonly localPort: number | null;
  /** client side: share of the ephemeral port range these hold (local ports inside it / its size). */
  readonly fractionOfPortRange: number | null;
  readonly attributedBy: Attribution;
}

export interface ListenQueueFinding extends FindingText {
  readonly type: 'listen_queue';
  readonly local: EndpointJson;
  readonly acceptQueue: number;
  readonly backlog: number;
  readonly threshold: number;
}

export type Finding = SocketFinding | TimeWaitFinding | ListenQueueFinding;
export type FindingType = Finding['type'];

export interface ListenerEntry {
  readonly local: EndpointJson;
  readonly inode: number;
  /** Connections handshaken and waiting for accept() (Recv-Q of the LISTEN row). */
  readonly acceptQueue: number;
  /** The accept queue's limit (Send-Q of the LISTEN row); null when read from /proc, which does not show it. */
  readonly backlog: number | null;
  /** Handshakes in progress on this listener (SYN_RECEIVED request sockets). */
  readonly synReceived: number;
}

export interface TimeWaitDestination {
  readonly peer: EndpointJson;
  readonly count: number;
  /** Of count, those whose local port is in the ephemeral range (explicitly bound ones are not). */
  readonly inEphemeralRange: number;
  readonly fractionOfPortRange: number | null;
}

export interface TimeWaitSummary {
  /** TIME_WAIT in scope. */
  readonly total: number;
  /** How these were tied to the target, in words. */
  readonly attribution: string;
  /** By destination, most first. */
  readonly clientSide: readonly TimeWaitDestination[];
  /** By listening port, most first. */
  readonly serverSide: ReadonlyArray<{ readonly localPort: number; readonly count: number }>;
  /** --pid: TIME_WAIT in the namespace that could not be tied to the process, with the busiest destinations. null otherwise. */
  readonly unattributed: { readonly total: number; readonly topDestinations: readonly TimeWaitDestination[] } | null;
}

export type TableSource = 'ss' | 'proc';

export interface SourceInfo {
  /** Where the rows came from: `ss` (netlink, with tcp_info) or `proc` (/proc/N/net/tcp and tcp6). */
  readonly table: TableSource;
  /** Whether socket ages (tcp_info) are known. */
  readonly durations: boolean;
  /** Whether the backlog limits of listeners are known. */
  readonly backlog: boolean;
  /** Why the table came from where it did, when that limits the report. */
  readonly notes: readonly string[];
}

export interface ProcessInfo {
  readonly name: string | null;
  /** `net:[4026531840]` */
  readonly netns: string | null;
  /** Whether it shares the CLI's network namespace: `same`, `other`, `unknown`. */
  readonly netnsRelation: string;
}

export interface KernelCountersJson {
  /** TcpExt ListenOverflows of the target's network namespace, since it was created. */
  readonly listenOverflows: number | null;
  /** TcpExt ListenDrops (includes the overflows). */
  readonly listenDrops: number | null;
}

export interface DoctorReport {
  readonly command: 'doctor';
  readonly pid: number | null;
  readonly port: number | null;
  readonly process: ProcessInfo | null;
  readonly source: SourceInfo;
  readonly thresholds: Thresholds;
  readonly portRange: PortRange | null;
  /** No findings: the exit code is 0. */
  readonly healthy: boolean;
  readonly findings: readonly Finding[];
  /** Sockets in scope per state, all eleven states. */
  readonly counts: StateCounts;
  /** Of counts, those tied by listening port or destination rather than owned (only states that have some). */
  readonly attributed: Partial<StateCounts>;
  readonly listeners: readonly ListenerEntry[];
  readonly timeWait: TimeWaitSummary;
  readonly kernelCounters: KernelCountersJson;
}

export interface DoctorInput {
  readonly pid?: number;
  readonly port?: number;
  readonly process?: ProcessInfo;
  readonly table: ScopedTable;
  readonly source: SourceInfo;
  readonly thresholds: Thresholds;
  readonly portRange?: PortRange;
  readonly counters: { readonly listenOverflows?: number; readonly listenDrops?: number };
}

/** States in which the peer's FIN has arrived: it is counted in Recv-Q until the application reads the end of the stream. */
const FIN_RECEIVED: ReadonlySet<TcpState> = new Set([TcpState.CloseWait, TcpState.LastAck, TcpState.Closing, TcpState.TimeWait]);

export function unreadBytes(row: KernelSocketRow): number {
  return FIN_RECEIVED.has(row.state) && row.recvQ > 0 ? row.recvQ - 1 : row.recvQ;
}

/** tcp_info lastack; ss leaves out a zero field, so a tcp_info line without it means under a millisecond. */
export function durationOf(row: KernelSocketRow, durationsKnown: boolean): number | null {
  if (!durationsKnown || row.tcpInfo === undefined) return null;
  return row.tcpInfo.lastAckMs ?? 0;
}

function endpointJson(e: Endpoint): EndpointJson {
  return { address: e.address, port: e.port };
}

function socketEntry(s: ScopedRow, durationsKnown: boolean): SocketEntry {
  const { row } = s;
  return {
    state: row.state,
    local: endpointJson(row.local),
    peer: endpointJson(row.peer),
    inode: row.inode,
    attributedBy: s.by,
    durationMs: durationOf(row, durationsKnown),
    unreadBytes: unreadBytes(row),
    recvQ: row.recvQ,
    sendQ: row.sendQ,
    timer: row.timer === undefined ? null : { name: row.timer.name, expiresMs: row.timer.expiresMs, retransmits: row.timer.retransmits },
  };
}

/** Oldest first, unknown ages last, then by ports and inode so that output is stable. */
function bySeverity(a: SocketEntry, b: SocketEntry): number {
  const da = a.durationMs ?? -1;
  const db = b.durationMs ?? -1;
  return db - da || a.local.port - b.local.port || a.peer.port - b.peer.port || a.inode - b.inode;
}

/** `1.5 s`, `3 min 20 s`, `250 ms`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${Math.floor((ms % 60_000) / 1000)} s`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `${hours} h ${minutes % 60} min` : `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

const SOCKET_FINDING_STATES = [TcpState.CloseWait, TcpState.FinWait2, TcpState.FinWait1] as const;

function holderOf(input: DoctorInput): string {
  if (input.pid !== undefined) return `pid ${input.pid}`;
  return 'the process holding it';
}

function socketFindingText(state: (typeof SOCKET_FINDING_STATES)[number], count: number, input: DoctorInput, thresholdMs: number): FindingText {
  const age = !input.source.durations ? '(age unknown)' : thresholdMs > 0 ? `for at least ${formatDuration(thresholdMs)}` : '(any age)';
  const sockets = plural(count, 'socket');
  switch (state) {
    case TcpState.CloseWait:
      return {
        summary: `${sockets} in CLOSE_WAIT ${age}: the peer closed, ${holderOf(input)} did not`,
        meaning:
          'The peer closed its side (its FIN arrived and was acknowledged) and the application has not closed the socket. ' +
          'Nothing times CLOSE_WAIT out: the socket, its file descriptor and its buffers stay until the application calls close().',
        advice:
          "Close every socket whose peer has ended: call socket.end() or socket.destroy() on 'end' (a server created with " +
          'allowHalfOpen: true must do it itself), consume or destroy every HTTP response body (res.resume() when it is not needed), ' +
          'and release pooled connections on error paths. The peers listed say which connections these are.',
      };
    case TcpState.FinWait2:
      return {
        summary: `${sockets} in FIN_WAIT_2 ${age}: this side closed, the peer never did`,
        meaning:
          'This side sent its FIN and the peer acknowledged it, but the peer has not closed its side: its application holds the ' +
          'connection in CLOSE_WAIT, which is its leak seen from here. While this side keeps the socket open there is no timeout; ' +
          'once closed, the kernel drops it after net.ipv4.tcp_fin_timeout (60 s).',
        advice:
          'Look at the peers listed: they do not close connections their peer closed (run socklife doctor on them). Here, ' +
          'socket.destroy() or a socket.setTimeout() on half-closed sockets bounds how long they are kept.',
      };
    case TcpState.FinWait1:
      return {
        summary: `${sockets} in FIN_WAIT_1 ${age}: the peer does not acknowledge this side's FIN`,
        meaning:
          'This side closed and sent (or queued) its FIN, and the peer has not acknowledged it: the peer is unreachable or gone, ' +
          'or it does not read, so its receive window is full and the data and FIN queued here cannot be sent.',
        advice:
          'Check the path to the peers listed (a firewall dropping packets, a host that went away) and whether they read their ' +
          'data. The kernel retransmits the FIN (net.ipv4.tcp_retries2, tcp_orphan_retries for closed sockets); socket.destroy() ' +
          'after a timeout frees the socket sooner.',
      };
  }
}

function thresholdFor(state: TcpState, t: Thresholds): number {
  return state === TcpState.CloseWait ? t.closeWaitMs : t.finWaitMs;
}

function socketFindings(input: DoctorInput): SocketFinding[] {
  const findings: SocketFinding[] = [];
  for (const state of SOCKET_FINDING_STATES) {
    const thresholdMs = thresholdFor(state, input.thresholds);
    const sockets = input.table.rows
      .filter((s) => s.row.state === state)
      .map((s) => socketEntry(s, input.source.durations))
      .filter((e) => e.durationMs === null || e.durationMs >= thresholdMs)
      .sort(bySeverity);
    if (sockets.length === 0) continue;
    findings.push({ type: state, count: sockets.length, thresholdMs, ...socketFindingText(state, sockets.length, input, thresholdMs), sockets });
  }
  return findings;
}

function timeWaitSide(s: ScopedRow, port: number | undefined, scopeRows: readonly ScopedRow[]): 'client' | 'server' {
  if (s.by === 'listening_port') return 'server';
  if (s.by === 'destination') return 'client';
  if (s.by === 'port' && port !== undefined) return s.row.local.port === port ? 'server' : 'client';
  // Whole namespace: server side when some listener in scope covers the local end.
  const onListener = scopeRows.some((l) => l.row.state === TcpState.Listen && listenerCovers(l.row.local, s.row.local));
  return onListener ? 'server' : 'client';
}

function rangeSize(range: PortRange | undefined): number | undefined {
  return range === undefined ? undefined : range.high - range.low + 1;
}

function fraction(n: number, of: number | undefined): number | null {
  return of === undefined || of === 0 ? null : Math.round((n / of) * 10_000) / 10_000;
}

function groupDestinations(rows: readonly KernelSocketRow[], range: PortRange | undefined): TimeWaitDestination[] {
  const groups = new Map<string, { peer: EndpointJson; count: number; inEphemeralRange: number }>();
  for (const row of rows) {
    const key = endpointKey(row.peer);
    let g = groups.get(key);
    if (g === undefined) {
      g = { peer: endpointJson(row.peer), count: 0, inEphemeralRange: 0 };
      groups.set(key, g);
    }
    g.count++;
    if (range !== undefined && row.local.port >= range.low && row.local.port <= range.high) g.inEphemeralRange++;
  }
  const size = rangeSize(range);
  return [...groups.values()]
    .map((g) => ({ ...g, fractionOfPortRange: fraction(g.inEphemeralRange, size) }))
    .sort((a, b) => b.count - a.count || a.peer.address.localeCompare(b.peer.address) || a.peer.port - b.peer.port);
}

const UNATTRIBUTED_SHOWN = 5;

function attributionText(input: DoctorInput): string {
  if (input.pid !== undefined) {
    return (
      `TIME_WAIT sockets belong to no process (inode 0). These are tied to pid ${input.pid} by its listening ports (server side) ` +
      'and by the destinations of its current connections (client side): another process listening on the same port or ' +
      'talking to the same destination is counted too, and TIME_WAIT towards a destination it no longer has a connection to is not.'
    );
  }
  if (input.port !== undefined) return `Every TIME_WAIT socket whose local or peer port is ${input.port}, whichever process made it.`;
  return 'Every TIME_WAIT socket of the network namespace.';
}

function timeWaitAnalysis(input: DoctorInput): { summary: TimeWaitSummary; findings: TimeWaitFinding[] } {
  const rows = input.table.rows.filter((s) => s.row.state === TcpState.TimeWait);
  const client: ScopedRow[] = [];
  const server = new Map<number, { count: number; by: Attribution }>();
  for (const s of rows) {
    if (timeWaitSide(s, input.port, input.table.rows) === 'client') client.push(s);
    else {
      const g = server.get(s.row.local.port) ?? { count: 0, by: s.by };
      g.count++;
      server.set(s.row.local.port, g);
    }
  }
  const clientSide = groupDestinations(
    client.map((s) => s.row),
    input.portRange,
  );
  const clientBy = new Map(client.map((s) => [endpointKey(s.row.peer), s.by]));
  const serverSide = [...server.entries()]
    .map(([localPort, g]) => ({ localPort, count: g.count, by: g.by }))
    .sort((a, b) => b.count - a.count || a.localPort - b.localPort);
  const threshold = input.thresholds.timeWait;
  const findings: TimeWaitFinding[] = [];
  for (const d of clientSide) {
    if (d.count < threshold) continue;
    const share = d.fractionOfPortRange === null ? '' : ` (${(d.fractionOfPortRange * 100).toFixed(1)} % of the ephemeral port range)`;
    findings.push({
      type: 'time_wait',
      side: 'client',
      count: d.count,
      threshold,
      peer: d.peer,
      localPort: null,
      fractionOfPortRange: d.fractionOfPortRange,
      attributedBy: clientBy.get(endpointKey(d.peer)) ?? 'destination',
      summary: `${plural(d.count, 'connection')} to ${formatEndpoint(d.peer)} in TIME_WAIT${share}: this side opens and closes them one after another`,
      meaning:
        'The side that closes a connection first keeps it in TIME_WAIT for 60 s. These are connections this side opened to one ' +
        'destination and closed first; each keeps its local port out of use for that destination, and when the ephemeral port ' +
        'range runs out, connect() fails with EADDRNOTAVAIL.',
      advice:
        'Reuse connections instead of opening one per request (an http.Agent with keepAlive: true, a connection pool), or let ' +
        'the server close first. net.ipv4.tcp_tw_reuse=1 lets new outgoing connections reuse TIME_WAIT ports safely; widening ' +
        'net.ipv4.ip_local_port_range buys room, not a fix.',
    });
  }
  for (const g of serverSide) {
    if (g.count < threshold) continue;
    findings.push({
      type: 'time_wait',
      side: 'server',
      count: g.count,
      threshold,
      peer: null,
      localPort: g.localPort,
      fractionOfPortRange: null,
      attributedBy: g.by,
      summary: `${plural(g.count, 'connection')} on listening port ${g.localPort} in TIME_WAIT: the server closes first`,
      meaning:
        'The side that closes a connection first keeps it in TIME_WAIT for 60 s. Here the server closed them: they do not use up ' +
        'ports (each has its own client port) but cost memory, and show connections closed that clients could have reused.',
      advice:
        'Let the client close first: keep HTTP connections alive (server.keepAliveTimeout longer than the clients\u2019 idle ' +
        'timeout) instead of closing after each response, and avoid \u2018Connection: close\u2019. tcp_tw_reuse does not apply to ' +
        'incoming connections.',
    });
  }
  const unattributed =
    input.pid === undefined
      ? null
      : {
          total: input.table.unattributedTimeWait.length,
          topDestinations: groupDestinations(input.table.unattributedTimeWait, input.portRange).slice(0, UNATTRIBUTED_SHOWN),
        };
  return {
    summary: {
      total: rows.length,
      attribution: attributionText(input),
      clientSide,
      serverSide: serverSide.map(({ localPort, count }) => ({ localPort, count })),
      unattributed,
    },
    findings,
  };
}

function listenerEntries(input: DoctorInput): ListenerEntry[] {
  const rows = input.table.rows;
  return rows
    .filter((s) => s.row.state === TcpState.Listen)
    .map(({ row }) => ({
      local: endpointJson(row.local),
      inode: row.inode,
      acceptQueue: row.recvQ,
      backlog: input.source.backlog ? row.sendQ : null,
      synReceived: rows.filter((s) => s.row.state === TcpState.SynReceived && listenerCovers(row.local, s.row.local)).length,
    }))
    .sort((a, b) => a.local.port - b.local.port || a.local.address.localeCompare(b.local.address));
}

function listenFindings(listeners: readonly ListenerEntry[], input: DoctorInput): ListenQueueFinding[] {
  const threshold = input.thresholds.listenQueue;
  const counters = input.counters;
  const drops =
    counters.listenOverflows === undefined
      ? ''
      : ` Since the network namespace was created the kernel counted ${counters.listenOverflows} ListenOverflows and ${counters.listenDrops ?? 'an unknown number of'} ListenDrops (all listeners).`;
  const findings: ListenQueueFinding[] = [];
  for (const l of listeners) {
    if (l.backlog === null || l.acceptQueue === 0 || l.acceptQueue < threshold * l.backlog) continue;
    findings.push({
      type: 'listen_queue',
      local: l.local,
      acceptQueue: l.acceptQueue,
      backlog: l.backlog,
      threshold,
      summary: `accept queue of ${formatEndpoint(l.local)} holds ${l.acceptQueue} of at most ${l.backlog} connections: the process does not accept fast enough`,
      meaning:
        'These connections finished the handshake and wait for the application to accept() them. When the queue is full the ' +
        `kernel drops new handshakes (ListenOverflows), and clients see retransmitted SYNs and slow or failed connects.${drops}`,
      advice:
        'Look for event-loop stalls (long synchronous work, GC pauses, a blocked main thread) that keep the process from ' +
        'accepting; raise the backlog (server.listen({ backlog })) together with net.core.somaxconn, which caps it.',
    });
  }
  return findings;
}

export function formatEndpoint(e: EndpointJson): string {
  const host = e.address.includes(':') ? `[${e.address}]` : e.address;
  return `${host}:${e.port === 0 ? '*' : e.port}`;
}

/** The whole report, from rows already tied to the target. Pure. */
export function diagnose(input: DoctorInput): DoctorReport {
  const listeners = listenerEntries(input);
  const timeWait = timeWaitAnalysis(input);
  const findings: Finding[] = [...socketFindings(input), ...timeWait.findings, ...listenFindings(listeners, input)];
  return {
    command: 'doctor',
    pid: input.pid ?? null,
    port: input.port ?? null,
    process: input.process ?? null,
    source: input.source,
    thresholds: input.thresholds,
    portRange: input.portRange ?? null,
    healthy: findings.length === 0,
    findings,
    counts: countStates(input.table.rows),
    attributed: countAttributed(input.table.rows),
    listeners,
    timeWait: timeWait.summary,
    kernelCounters: {
      listenOverflows: input.counters.listenOverflows ?? null,
      listenDrops: input.counters.listenDrops ?? null,
    },
  };
}
