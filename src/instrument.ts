import { diag, metrics, trace } from '@opentelemetry/api';
import type * as net from 'node:net';
import { now } from './clock.js';
import { resolveOptions } from './config.js';
import { CloseWaitLeakDetector } from './detect/close-wait-leak.js';
import { ConnectionTracker } from './model/tracker.js';
import { KernelReader } from './observe/kernel/kernel-reader.js';
import { kernelSourcesFor } from './observe/kernel/sources.js';
import { NodeSocketObserver } from './observe/node-sockets.js';
import { OtelReporter } from './report/otel-reporter.js';
import { TcpState } from './tcp-states.js';
import type { ResolvedOptions, SocklifeHandle, SocklifeOptions } from './types.js';

/** The states a poll asks the kernel for: the ones socket events cannot see. */
const POLLED_STATES = [TcpState.CloseWait] as const;
const PROBE_QUERY = { states: POLLED_STATES, localPorts: [0], peerPorts: [0] };
/**
 * A connection that has lived this long keeps its creation stack as shared text instead of
 * V8's frames (about 2 KB each, holding every caller's receiver); short-lived ones never pay
 * the formatting.
 */
const STACK_COMPACT_AGE_MS = 1000;
const STACK_COMPACT_SLICE_MS = 4;

/**
 * One running instrumentation: observe → model → detect → report, driven by socket events
 * and an unref()'d poll timer, one poll in flight at a time.
 */
class Socklife implements SocklifeHandle {
  readonly options: ResolvedOptions;
  private readonly observer: NodeSocketObserver;
  private readonly tracker: ConnectionTracker;
  private readonly reporter: OtelReporter;
  private readonly detector: CloseWaitLeakDetector;
  private readonly reader: KernelReader;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private polled = false;
  private compacting = false;

  constructor(options: ResolvedOptions) {
    this.options = options;
    this.reporter = new OtelReporter({
      tracerProvider: options.tracerProvider ?? trace.getTracerProvider(),
      meterProvider: options.meterProvider ?? metrics.getMeterProvider(),
      stateCounts: () => this.tracker.stateCounts(),
    });
    this.tracker = new ConnectionTracker(this.reporter, (socket) => this.observer.detach(socket));
    this.observer = new NodeSocketObserver(this.tracker, {
      captureStacks: options.captureStacks,
      autoInstrument: options.autoInstrument,
    });
    this.detector = new CloseWaitLeakDetector(options.closeWaitThresholdMs);
    this.reader = new KernelReader(kernelSourcesFor(options.source));
    this.observer.enable();
    // The first poll runs at once, so a missing or broken source is reported at start-up.
    this.schedule(0);
  }

  get source(): SocklifeHandle['source'] {
    return this.reader.current ?? 'none';
  }

  instrumentServer(server: net.Server): void {
    if (!this.stopped) this.observer.observeServer(server);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.observer.disable();
    for (const socket of this.tracker.stop()) this.observer.detach(socket);
    this.reporter.stop();
    if (getActive() === this) setActive(undefined);
  }

  /** Compacts the stacks of long-lived connections in slices of a few ms, never one long block. */
  private compactStacks(openedBefore: number): void {
    if (this.stopped || this.compacting) return;
    try {
      if (this.tracker.compactStacks(openedBefore, now() + STACK_COMPACT_SLICE_MS)) return;
    } catch (error) {
      // Runs from setImmediate too, outside the poll's guard: nothing may reach the application.
      diag.error('socklife: could not compact creation stacks', error);
      return;
    }
    this.compacting = true;
    setImmediate(() => {
      this.compacting = false;
      this.compactStacks(openedBefore);
    });
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      // The first poll always runs, to try the source; later ones only when a connection could
      // show the kernel something socket events did not (each run of a tool forks the process).
      const worthPolling = this.tracker.hasKernelCandidates();
      if ((worthPolling || !this.polled) && this.reader.current !== undefined) {
        // With nothing to look for yet, the first poll is a probe that matches no socket (port 0):
        // it tests the source without reading every CLOSE_WAIT socket of the machine.
        const query = worthPolling ? this.tracker.queryFor(POLLED_STATES) : PROBE_QUERY;
        this.polled = true;
        const reading = await this.reader.read(query);
        if (reading !== undefined && !this.stopped) this.tracker.kernelRows(reading.rows, reading.source, now());
      }
      // Connections Node has closed but the kernel may still hold: only their exact port pairs.
      const afterClose = this.tracker.afterCloseQuery();
      if (afterClose !== undefined && this.reader.current !== undefined && !this.stopped) {
        const reading = await this.reader.read(afterClose);
        if (reading !== undefined && !this.stopped) this.tracker.kernelAfterCloseRows(reading.rows, now(), afterClose);
      }
      if (!this.stopped) {
        for (const leak of this.detector.scan(this.tracker, now())) this.reporter.closeWaitLeak(leak);
        this.compactStacks(now() - STACK_COMPACT_AGE_MS);
      }
    } catch (error) {
      diag.error('socklife: poll failed', error);
    } finally {
      this.schedule(this.options.pollIntervalMs);
    }
  }
}

// One instrumentation per process, shared by the CommonJS and ES module builds.
const ACTIVE = Symbol.for('socklife.active');
type GlobalWithActive = typeof globalThis & { [ACTIVE]?: Socklife };

function getActive(): Socklife | undefined {
  return (globalThis as GlobalWithActive)[ACTIVE];
}

function setActive(instance: Socklife | undefined): void {
  (globalThis as GlobalWithActive)[ACTIVE] = instance;
}

/**
 * Starts following the TCP sockets of this process. Invalid options throw a TypeError that
 * names the option. Calling it again while running returns the running instrumentation.
 */
export function instrument(options?: SocklifeOptions): SocklifeHandle {
  const resolved = resolveOptions(options);
  const active = getActive();
  if (active !== undefined) {
    diag.warn('socklife: instrument() called while already running; returning the running instrumentation');
    return active;
  }
  const instance = new Socklife(resolved);
  setActive(instance);
  return instance;
}

/**
 * Follows one server's connections. Uses the running instrumentation, or starts one that
 * follows only the servers given here (`autoInstrument: false`).
 */
export function instrumentServer(server: net.Server, options?: Omit<SocklifeOptions, 'autoInstrument'>): SocklifeHandle {
  const handle = getActive() ?? instrument({ ...options, autoInstrument: false });
  handle.instrumentServer(server);
  return handle;
}
