import { socketAgeMs, unreadDataBytes } from '../detect/kernel-rules.js';
import type { KernelSnapshot, SnapshotFinding, SnapshotRow, SnapshotSocket } from '../detect/snapshot.js';
import { detectInSnapshot } from '../detect/detectors.js';
import { byDestination, byListeningPort, splitTimeWait, untied, type DestinationGroup } from '../detect/time-wait-rules.js';
import { listenerCovers } from '../observe/kernel/address.js';
import type { PortRange } from '../observe/kernel/kernel-counters.js';
import type { Endpoint, KernelSocketRow } from '../observe/kernel/rows.js';
import { TcpState } from '../tcp-states.js';
import type { Thresholds } from '../thresholds.js';
import type {
  DoctorReport,
  EndpointJson,
  Finding,
  ListenerEntry,
  ListenQueueFinding,
  ProcessInfo,
  SocketEntry,
  SocketFinding,
  SourceInfo,
  TimeWaitDestination,
  TimeWaitFinding,
  TimeWaitSummary,
} from './doctor-report.js';
import {
  attributionText,
  clientTimeWaitText,
  holderOf,
  listenQueueText,
  serverTimeWaitText,
  socketFindingText,
  type SocketFindingState,
} from './doctor-text.js';
import { countAttributed, countStates, type ScopedRow, type ScopedTable } from './scope.js';

/**
 * Builds the doctor report: the rows tied to the target become a kernel snapshot, the
 * library's detectors judge it in their kernel-only mode, and their findings are laid out in
 * the report's schema with their words. This module decides no finding itself.
 */

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

/** Bytes received that the process has not read; a received FIN, which takes one unit of Recv-Q, is left out. */
export const unreadBytes = unreadDataBytes;

/** The socket's age in its state (tcp_info lastack) as the JSON gives it: null when unknown. */
export function durationOf(row: KernelSocketRow, durationsKnown: boolean): number | null {
  return socketAgeMs(row, durationsKnown) ?? null;
}

const UNATTRIBUTED_SHOWN = 5;

/** The socket findings, in this order: CLOSE_WAIT, then FIN_WAIT_2, then FIN_WAIT_1. */
const SOCKET_FINDING_STATES: readonly SocketFindingState[] = [TcpState.CloseWait, TcpState.FinWait2, TcpState.FinWait1];

function endpointJson(e: Endpoint): EndpointJson {
  return { address: e.address, port: e.port };
}

/** A TIME_WAIT row's side where the way it was tied to the target says it; else the detectors' listener rule decides. */
function tiedSide(s: ScopedRow, port: number | undefined): SnapshotRow['side'] {
  switch (s.by) {
    case 'listening_port':
      return 'server';
    case 'destination':
      return 'client';
    case 'port':
      return port === undefined ? undefined : s.row.local.port === port ? 'server' : 'client';
    default:
      return undefined;
  }
}

function snapshotOf(input: DoctorInput): KernelSnapshot {
  return {
    rows: input.table.rows.map((s) => {
      const side = s.row.state === TcpState.TimeWait ? tiedSide(s, input.port) : undefined;
      return side === undefined ? { row: s.row } : { row: s.row, side };
    }),
    agesKnown: input.source.durations,
    backlogKnown: input.source.backlog,
    portRange: input.portRange,
  };
}

function socketEntry(socket: SnapshotSocket, scoped: ScopedRow | undefined): SocketEntry {
  const { row } = socket;
  return {
    state: row.state,
    local: endpointJson(row.local),
    peer: endpointJson(row.peer),
    inode: row.inode,
    attributedBy: scoped?.by ?? 'netns',
    durationMs: socket.ageMs ?? null,
    unreadBytes: socket.unreadBytes,
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

function socketFindings(found: readonly SnapshotFinding[], input: DoctorInput, scoped: ReadonlyMap<KernelSocketRow, ScopedRow>): SocketFinding[] {
  const findings: SocketFinding[] = [];
  for (const state of SOCKET_FINDING_STATES) {
    let thresholdMs = state === TcpState.CloseWait ? input.thresholds.closeWaitMs : input.thresholds.finWaitMs;
    const sockets: SocketEntry[] = [];
    for (const f of found) {
      if ((f.type !== 'close_wait_leak' && f.type !== 'half_close_stuck') || f.socket.row.state !== state) continue;
      thresholdMs = f.thresholdMs;
      sockets.push(socketEntry(f.socket, scoped.get(f.socket.row)));
    }
    if (sockets.length === 0) continue;
    sockets.sort(bySeverity);
    const text = socketFindingText(state, sockets.length, holderOf(input.pid), input.source.durations, thresholdMs);
    findings.push({ type: state, count: sockets.length, thresholdMs, ...text, sockets });
  }
  return findings;
}

/** The share as the JSON gives it: four decimals, null when the range is unknown. */
function fraction(share: number | undefined): number | null {
  return share === undefined ? null : Math.round(share * 10_000) / 10_000;
}

function destinationJson(g: DestinationGroup): TimeWaitDestination {
  return { peer: endpointJson(g.destination), count: g.count, inEphemeralRange: g.inEphemeralRange, fractionOfPortRange: fraction(g.share) };
}

function timeWaitFindings(found: readonly SnapshotFinding[], scoped: ReadonlyMap<KernelSocketRow, ScopedRow>): TimeWaitFinding[] {
  const findings: TimeWaitFinding[] = [];
  for (const f of found) {
    if (f.type !== 'time_wait_accumulation') continue;
    if (f.side === 'client') {
      const peer = endpointJson(f.destination);
      const fractionOfPortRange = fraction(f.share);
      const last = f.rows.at(-1);
      findings.push({
        type: 'time_wait',
        side: 'client',
        count: f.count,
        threshold: f.threshold,
        peer,
        localPort: null,
        fractionOfPortRange,
        attributedBy: (last === undefined ? undefined : scoped.get(last.row)?.by) ?? 'destination',
        ...clientTimeWaitText(f.count, peer, fractionOfPortRange),
      });
    } else {
      const first = f.rows[0];
      findings.push({
        type: 'time_wait',
        side: 'server',
        count: f.count,
        threshold: f.threshold,
        peer: null,
        localPort: f.port,
        fractionOfPortRange: null,
        attributedBy: (first === undefined ? undefined : scoped.get(first.row)?.by) ?? 'listening_port',
        ...serverTimeWaitText(f.count, f.port),
      });
    }
  }
  return findings;
}

function timeWaitSummary(snapshot: KernelSnapshot, input: DoctorInput): TimeWaitSummary {
  const { client, server } = splitTimeWait(snapshot.rows);
  return {
    total: client.length + server.length,
    attribution: attributionText(input.pid, input.port),
    clientSide: byDestination(client, input.portRange).map(destinationJson),
    serverSide: byListeningPort(server).map((g) => ({ localPort: g.port, count: g.count })),
    unattributed:
      input.pid === undefined
        ? null
        : {
            total: input.table.unattributedTimeWait.length,
            topDestinations: byDestination(untied(input.table.unattributedTimeWait), input.portRange).slice(0, UNATTRIBUTED_SHOWN).map(destinationJson),
          },
  };
}

interface Listener {
  readonly row: KernelSocketRow;
  readonly entry: ListenerEntry;
}

function listenersOf(input: DoctorInput): Listener[] {
  const rows = input.table.rows;
  return rows
    .filter((s) => s.row.state === TcpState.Listen)
    .map(({ row }) => ({
      row,
      entry: {
        local: endpointJson(row.local),
        inode: row.inode,
        acceptQueue: row.recvQ,
        backlog: input.source.backlog ? row.sendQ : null,
        synReceived: rows.filter((s) => s.row.state === TcpState.SynReceived && listenerCovers(row.local, s.row.local)).length,
      },
    }))
    .sort((a, b) => a.entry.local.port - b.entry.local.port || a.entry.local.address.localeCompare(b.entry.local.address));
}

function listenFindings(found: readonly SnapshotFinding[], listeners: readonly Listener[], input: DoctorInput): ListenQueueFinding[] {
  const pressed = new Map<KernelSocketRow, SnapshotFinding & { type: 'listen_pressure' }>();
  for (const f of found) if (f.type === 'listen_pressure') pressed.set(f.listener, f);
  const findings: ListenQueueFinding[] = [];
  for (const { row, entry } of listeners) {
    const f = pressed.get(row);
    if (f === undefined) continue;
    findings.push({
      type: 'listen_queue',
      local: entry.local,
      acceptQueue: f.acceptQueue,
      backlog: f.backlog,
      threshold: f.share,
      ...listenQueueText(entry.local, f.acceptQueue, f.backlog, input.counters),
    });
  }
  return findings;
}

/** The whole report, from rows already tied to the target. Pure. */
export function diagnose(input: DoctorInput): DoctorReport {
  const snapshot = snapshotOf(input);
  const found = detectInSnapshot(snapshot, input.thresholds);
  const scoped = new Map(input.table.rows.map((s) => [s.row, s]));
  const listeners = listenersOf(input);
  const findings: Finding[] = [...socketFindings(found, input, scoped), ...timeWaitFindings(found, scoped), ...listenFindings(found, listeners, input)];
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
    listeners: listeners.map((l) => l.entry),
    timeWait: timeWaitSummary(snapshot, input),
    kernelCounters: {
      listenOverflows: input.counters.listenOverflows ?? null,
      listenDrops: input.counters.listenDrops ?? null,
    },
  };
}
