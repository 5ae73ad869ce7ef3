import type { ListeningSockets } from '../model/listening-sockets.js';
import type { ConnectionModel } from '../model/tracker.js';
import type { KernelCounters } from '../observe/kernel/kernel-counters.js';
import type { KernelSocketRow } from '../observe/kernel/rows.js';
import type { KernelNeed } from '../observe/kernel/query.js';
import type { Finding } from './finding.js';
import type { KernelSnapshot, SnapshotFinding } from './snapshot.js';

/** What a detector reads on each poll. */
export interface PollContext {
  readonly model: ConnectionModel;
  readonly listeners: ListeningSockets;
  /** Epoch milliseconds of this poll. */
  readonly time: number;
  /** The kernel's counters, read at the start of this poll when any detector wanted them; undefined otherwise or where unreadable. */
  readonly counters: KernelCounters | undefined;
}

/** Observers the engine runs on behalf of the detectors that declare them (`Detector.needs`). */
export type ObserverName = 'event-loop-stalls';

/**
 * A detector: says what it needs from the kernel, and turns the model plus the kernel's
 * answer into findings. It never writes the model; it keeps its own memory (what it has
 * reported, its rates) and reports through the one findings path.
 *
 * On every poll the poller calls, in order: `wantsCounters`, `fromEvents` (at once, never
 * waiting for the kernel), then `need`, and once the kernel answered, `fromKernel` with the
 * rows this detector's need asked for. Each call is guarded: a detector that throws loses
 * only its own findings for that poll.
 */
export interface Detector {
  /** For diagnostics. */
  readonly name: string;
  /**
   * Observers it reads (the engine makes them and passes them in). The engine starts each one
   * while a detector that declared it is `observing`, and stops it when none is: a detector
   * never starts or stops an observer itself.
   */
  readonly needs?: readonly ObserverName[];
  /** Whether it wants its declared observers running now; asked once per poll. Default: always. */
  observing?(context: Omit<PollContext, 'counters'>): boolean;
  /** True when this poll should read the kernel's counters (`/proc/net/sockstat`, `/proc/net/netstat`: file reads, no child process). */
  wantsCounters?(context: Omit<PollContext, 'counters'>): boolean;
  /** Findings the model alone proves (socket events); runs on schedule even while a kernel read hangs. */
  fromEvents?(context: Omit<PollContext, 'counters'>): Finding[];
  /** The rows this poll should list for it, filtered in the kernel; undefined: none. */
  need?(context: PollContext): KernelNeed | undefined;
  /**
   * Findings once the kernel answered. `rows` are the rows its need asked for, including rows
   * of sockets this process does not hold (TIME_WAIT, SYN_RECEIVED, listeners); undefined when
   * it needed none or no kernel source could answer.
   */
  fromKernel?(context: PollContext, rows: readonly KernelSocketRow[] | undefined): Finding[];
  /**
   * Kernel-only mode: findings from one look at the rows of a process that never loaded
   * socklife (no Node records), by the same rules and this detector's thresholds.
   */
  fromSnapshot?(snapshot: KernelSnapshot): SnapshotFinding[];
}
