import type { TcpState } from '../tcp-states.js';
import { highlightsFor } from './diagram.js';
import type { KernelCountersJson, ProcessInfo } from './doctor-report.js';
import { countAttributed, countStates, type ScopedTable, type StateCounts } from './scope.js';

export interface StatesReport {
  readonly command: 'states';
  readonly pid: number | null;
  readonly port: number | null;
  readonly process: ProcessInfo | null;
  /** Always /proc (no child process, the target's own namespace): /proc/N/net with --pid, else this shell's. */
  readonly source: 'proc';
  /** When the table was read (ISO 8601). */
  readonly time: string;
  /** Sockets in scope per state, all eleven states; TIME_WAIT and SYN_RECEIVED tied by port included (see attributed). */
  readonly counts: StateCounts;
  /** Of counts, those without an inode tied to the process by listening port or destination (--pid only). */
  readonly attributed: Partial<StateCounts>;
  readonly total: number;
  /** --pid: TIME_WAIT of the namespace not tied to the process; null otherwise. */
  readonly unattributedTimeWait: number | null;
  /** States drawn highlighted: close_wait when > 0, time_wait at or over the threshold. Not empty: exit code 1. */
  readonly highlighted: readonly TcpState[];
  readonly timeWaitThreshold: number;
  readonly kernelCounters: KernelCountersJson;
}

export interface StatesInput {
  readonly pid?: number;
  readonly port?: number;
  readonly process?: ProcessInfo;
  readonly table: ScopedTable;
  readonly time: Date;
  readonly timeWaitThreshold: number;
  readonly counters: { readonly listenOverflows?: number; readonly listenDrops?: number };
}

export function buildStatesReport(input: StatesInput): StatesReport {
  const counts = countStates(input.table.rows);
  return {
    command: 'states',
    pid: input.pid ?? null,
    port: input.port ?? null,
    process: input.process ?? null,
    source: 'proc',
    time: input.time.toISOString(),
    counts,
    attributed: countAttributed(input.table.rows),
    total: input.table.rows.length,
    unattributedTimeWait: input.pid === undefined ? null : input.table.unattributedTimeWait.length,
    highlighted: [...highlightsFor(counts, input.timeWaitThreshold).keys()],
    timeWaitThreshold: input.timeWaitThreshold,
    kernelCounters: {
      listenOverflows: input.counters.listenOverflows ?? null,
      listenDrops: input.counters.listenDrops ?? null,
    },
  };
}
