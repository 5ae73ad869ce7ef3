import { diag } from '@opentelemetry/api';
import { now } from '../clock.js';
import type { Detector, PollContext } from '../detect/detector.js';
import type { Finding, FindingSink } from '../detect/finding.js';
import type { ListeningSockets } from '../model/listening-sockets.js';
import { guarded } from '../notify.js';
import type { ConnectionTracker } from '../model/tracker.js';
import { readKernelCounters, type KernelCounters } from '../observe/kernel/kernel-counters.js';
import type { KernelReader } from '../observe/kernel/kernel-reader.js';
import type { KernelSocketRow } from '../observe/kernel/rows.js';
import type { KernelQuery } from '../observe/kernel/source.js';
import { TcpState } from '../tcp-states.js';
import { rowsFor, unionOf, type KernelNeed } from '../observe/kernel/query.js';

/** The first poll, when nobody needs anything yet: it tests the source on a port no socket has. */
const PROBE_QUERY: KernelQuery = { states: [TcpState.CloseWait], localPorts: [0], peerPorts: [0] };

export interface PollerOptions {
  readonly intervalMs: number;
  readonly tracker: ConnectionTracker;
  readonly listeners: ListeningSockets;
  readonly reader: KernelReader;
  readonly detectors: readonly Detector[];
  readonly findings: FindingSink;
  /** Runs after each tick's event pass (the engine's housekeeping: stack compaction). */
  readonly afterDetection?: () => void;
  /** Runs at the start of each tick, before any detector: what findings of this tick must see (the meter provider they count on). */
  readonly beforeDetection?: () => void;
  readonly readCounters?: () => Promise<KernelCounters>;
}

/**
 * Drives the detectors on an unref()'d timer. Each tick runs the detectors' event pass at
 * once, then starts one kernel read for the union of what they need, unless the last one is
 * still out: a hung source delays only the kernel pass, never detection from socket events,
 * and reads never overlap.
 */
export class Poller {
  private timer: NodeJS.Timeout | undefined;
  private inFlight = false;
  private probed = false;
  private stopped = false;

  constructor(private readonly options: PollerOptions) {}

  /** The first poll runs at once, so a missing or broken source is reported at start-up. */
  start(): void {
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** True while a kernel read is out. */
  get reading(): boolean {
    return this.inFlight;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.tick(), delayMs);
    this.timer.unref();
  }

  private tick(): void {
    try {
      this.options.beforeDetection?.();
      const base = { model: this.options.tracker, listeners: this.options.listeners, time: now() };
      for (const detector of this.options.detectors) {
        if (detector.fromEvents === undefined) continue;
        this.report(guarded(`detector ${detector.name}`, () => detector.fromEvents?.(base) ?? [], []));
      }
      this.options.afterDetection?.();
      if (!this.inFlight) {
        this.inFlight = true;
        void this.kernelPass().finally(() => {
          this.inFlight = false;
        });
      }
    } catch (error) {
      diag.error('socklife: poll failed', error);
    } finally {
      this.schedule(this.options.intervalMs);
    }
  }

  private async kernelPass(): Promise<void> {
    try {
      const { tracker, listeners, detectors, reader } = this.options;
      const base = { model: tracker, listeners, time: now() };
      // Every detector is asked, each poll (no short cut): a detector may start measuring when asked.
      let wantsCounters = false;
      for (const d of detectors) if (guarded(`detector ${d.name}`, () => d.wantsCounters?.(base) ?? false, false)) wantsCounters = true;
      const counters = wantsCounters ? await (this.options.readCounters ?? readKernelCounters)() : undefined;
      if (this.stopped) return;
      const context: PollContext = { ...base, time: now(), counters };
      const needs = new Map<Detector, KernelNeed>();
      for (const d of detectors) {
        const need = guarded(`detector ${d.name}`, () => d.need?.(context), undefined);
        if (need !== undefined) needs.set(d, need);
      }
      const modelNeed = tracker.kernelNeed();
      const union = unionOf([...needs.values(), ...(modelNeed === undefined ? [] : [modelNeed])]);
      const query = union ?? (this.probed ? undefined : PROBE_QUERY);
      let rows: readonly KernelSocketRow[] | undefined;
      if (query !== undefined && reader.current !== undefined) {
        this.probed = true;
        const reading = await reader.read(query);
        if (this.stopped) return;
        if (reading !== undefined) {
          const time = now();
          tracker.kernelRows(reading.rows, reading.source, time);
          rows = reading.rows;
        }
      }
      const after: PollContext = { ...context, time: now() };
      for (const d of detectors) {
        if (d.fromKernel === undefined) continue;
        const need = needs.get(d);
        if (need === undefined && counters === undefined) continue;
        const own = need === undefined || rows === undefined ? undefined : rowsFor(rows, need);
        this.report(guarded(`detector ${d.name}`, () => d.fromKernel?.(after, own) ?? [], []));
      }
    } catch (error) {
      diag.error('socklife: kernel poll failed', error);
    }
  }

  /** Each finding on its own: one that fails to report costs no other. */
  private report(findings: readonly Finding[]): void {
    for (const finding of findings) guarded('a findings reporter', () => this.options.findings.report(finding), undefined);
  }
}
