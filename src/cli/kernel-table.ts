import { join } from 'node:path';
import { readKernelCounters, type PortRange } from '../observe/kernel/kernel-counters.js';
import { KernelSourceChain } from '../observe/kernel/source-chain.js';
import { ProcNetSource } from '../observe/kernel/proc-source.js';
import type { KernelQuery } from '../observe/kernel/query.js';
import type { KernelSocketRow } from '../observe/kernel/rows.js';
import type { KernelSource, KernelSourceName } from '../observe/kernel/source.js';
import { SsSource } from '../observe/kernel/ss-source.js';
import type { SourceInfo } from './doctor-report.js';
import { describeAccessError } from './process-sockets.js';

/** Longest an `ss` run of the CLI may take; the table of a busy host dumps in well under a second. */
export const SS_TIMEOUT_MS = 10_000;

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

/** What each source can tell the report. */
const SOURCE_INFO: Readonly<Record<'ss' | 'proc', Omit<SourceInfo, 'notes'>>> = {
  ss: { table: 'ss', durations: true, backlog: true },
  proc: { table: 'proc', durations: false, backlog: false },
};

/**
 * Reads the TCP table of a network namespace through the library's fallback chain and its
 * process runner: `ss` when allowed, falling back to `netDir`'s tables at the first failure
 * (a one-shot read has no next poll to retry at). Rejects with TargetError when /proc/N/net
 * cannot be read.
 */
export async function readTable(options: ReadTableOptions): Promise<TableReading> {
  const notes: string[] = [];
  if (options.whyNotSs !== undefined) notes.push(options.whyNotSs);
  const proc = new ProcNetSource(options.netDir);
  const sources: KernelSource[] = options.useSs ? [options.ssSource ?? new SsSource('ss', SS_TIMEOUT_MS, true), proc] : [proc];
  let lastError: unknown;
  const reader = new KernelSourceChain(sources, {
    maxConsecutiveFailures: 1,
    onGiveUp: (source: KernelSourceName, reason, error) => {
      lastError = error;
      if (source === 'ss') notes.push(`${reason}; read ${options.netDir}/tcp and tcp6 instead: socket ages and backlog limits unknown`);
    },
  });
  const reading = await reader.read(options.query);
  if (reading === undefined || (reading.source !== 'ss' && reading.source !== 'proc')) {
    if (options.pid === undefined) throw lastError;
    throw describeAccessError(options.pid, join(options.netDir, 'tcp'), undefined, (lastError as { cause?: unknown } | undefined)?.cause ?? lastError);
  }
  return { rows: reading.rows, source: { ...SOURCE_INFO[reading.source], notes } };
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
