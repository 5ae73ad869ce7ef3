import { join } from 'node:path';
import { readKernelCounters, type PortRange } from '../observe/kernel/kernel-counters.js';
import { ProcNetSource } from '../observe/kernel/proc-source.js';
import type { KernelSocketRow } from '../observe/kernel/rows.js';
import { KernelSourceError, type KernelQuery, type KernelSource } from '../observe/kernel/source.js';
import type { SourceInfo } from './doctor.js';
import { describeAccessError } from './process-sockets.js';
import { CliSsSource } from './ss.js';

export interface TableReading {
  readonly rows: readonly KernelSocketRow[];
  readonly source: SourceInfo;
}

export interface ReadTableOptions {
  /** `/proc/N/net` of the target (its network namespace), or `/proc/self/net`. */
  readonly netDir: string;
  /** The pid whose /proc/N/net this is, to word errors; undefined for /proc/self/net. */
  readonly pid?: number;
  /** Try `ss` first (tcp_info, backlog limits). Only right when the target shares the CLI's namespace: ss reads the namespace it runs in. */
  readonly useSs: boolean;
  /** When `useSs` is false: why, for the report's notes. */
  readonly whyNotSs?: string;
  readonly query: KernelQuery;
  /** Injected in tests; default `ss` on PATH. */
  readonly ssSource?: KernelSource;
}

/**
 * Reads the TCP table of a network namespace: with ss when allowed (falling back to /proc
 * if ss fails), else from `netDir`. Rejects with TargetError when /proc/N/net cannot be read.
 */
export async function readTable(options: ReadTableOptions): Promise<TableReading> {
  const notes: string[] = [];
  if (options.whyNotSs !== undefined) notes.push(options.whyNotSs);
  if (options.useSs) {
    const ss = options.ssSource ?? new CliSsSource();
    try {
      const { rows } = await ss.read(options.query);
      return { rows, source: { table: 'ss', durations: true, backlog: true, notes } };
    } catch (error) {
      const reason = error instanceof KernelSourceError ? error.message : String(error);
      notes.push(`${reason}; read ${options.netDir}/tcp and tcp6 instead: socket ages and backlog limits unknown`);
    }
  }
  try {
    const { rows } = await new ProcNetSource(options.netDir).read(options.query);
    return { rows, source: { table: 'proc', durations: false, backlog: false, notes } };
  } catch (error) {
    if (options.pid === undefined) throw error;
    throw describeAccessError(options.pid, join(options.netDir, 'tcp'), undefined, (error as { cause?: unknown }).cause ?? error);
  }
}

export interface NamespaceFacts {
  readonly portRange: PortRange | undefined;
  readonly listenOverflows: number | undefined;
  readonly listenDrops: number | undefined;
}

/**
 * ListenOverflows/ListenDrops from `netDir/netstat` (the target's namespace) and the
 * ephemeral port range. There is no per-process path to ip_local_port_range: /proc/sys
 * shows the namespace of the reader, so the range is this CLI's namespace's.
 */
export async function readNamespaceFacts(netDir: string, portRangePath = '/proc/sys/net/ipv4/ip_local_port_range'): Promise<NamespaceFacts> {
  const counters = await readKernelCounters({ snmp: join(netDir, 'snmp'), netstat: join(netDir, 'netstat'), portRange: portRangePath });
  return { portRange: counters.ephemeralPortRange, listenOverflows: counters.listenOverflows, listenDrops: counters.listenDrops };
}
