import { metrics, trace, type MeterProvider, type TracerProvider } from '@opentelemetry/api';
import type * as net from 'node:net';
import { now } from './clock.js';
import { resolveOptions } from './config.js';
import type { Detector } from './detect/detector.js';
import { FindingSites } from './detect/finding-sites.js';
import { makeDetectors } from './detect/detectors.js';
import type { MeasurementSink } from './detect/measurement.js';
import { ListeningSockets } from './model/listening-sockets.js';
import { StackSiteCloses } from './model/stack-site-closes.js';
import { forgetSaidFailures } from './notify.js';
import { poolConnectionCounts } from './model/pool-connections.js';
import { ConnectionTracker } from './model/tracker.js';
import { isClusterWorker } from './observe/cluster-worker.js';
import { EventLoopStalls, type StallSource } from './observe/event-loop-stalls.js';
import { KernelReader } from './observe/kernel/kernel-reader.js';
import { kernelSourcesFor } from './observe/kernel/sources.js';
import { HttpRequestObserver } from './observe/http-requests.js';
import { NodeSocketObserver } from './observe/node-sockets.js';
import { DetectorObservers } from './poll/observers.js';
import { Poller } from './poll/poller.js';
import { JsonFindingLog } from './report/finding-log.js';
import { FindingSpanReporter } from './report/finding-reporter.js';
import { FindingFanOut } from './report/findings.js';
import { MeasurementMetrics } from './report/measurement-metrics.js';
import { OtelReporter } from './report/otel-reporter.js';
import { Providers } from './report/providers.js';
import { recordingPolicyFor } from './report/recording-policy.js';
import { BorrowedHandle, getActive, secondStart, setActive, type RunningInstrumentation, type Starter } from './running.js';
import { CONTINUOUS_THRESHOLDS } from './thresholds.js';
import type { ResolvedOptions, SocklifeHandle, SocklifeOptions } from './types.js';

/** What the engine passes to the detectors: the observers they declared, and where their measurements go. */
interface DetectorParts {
  readonly stalls: StallSource;
  readonly measurements: MeasurementSink;
}

/** The detectors a running instrumentation drives (the one list is `makeDetectors`). */
function detectorsFor(options: ResolvedOptions, parts: DetectorParts): Detector[] {
  return makeDetectors({
    // The half-close is judged at the CLOSE_WAIT threshold in-process; the accept queue at the continuous share.
    thresholds: {
      closeWaitMs: options.closeWaitThresholdMs,
      finWaitMs: options.closeWaitThresholdMs,
      timeWait: options.timeWaitThreshold,
      synReceived: options.synReceivedThreshold,
      listenQueue: CONTINUOUS_THRESHOLDS.listenQueue,
    },
    // In a cluster worker the listening socket is shared: every worker counts the same sockets on it.
    sharedListeners: isClusterWorker(),
    stalls: parts.stalls,
    measurements: parts.measurements,
  });
}

/**
 * One running instrumentation: observe → model → detect → report. Socket events feed the
 * model as they happen; an unref()'d poller runs the detectors and reads the kernel for them.
 */
class Socklife implements RunningInstrumentation {
  readonly options: ResolvedOptions;
  private readonly observer: NodeSocketObserver;
  /** The HTTP requests on the followed connections. */
  private readonly requests: HttpRequestObserver;
  private readonly tracker: ConnectionTracker;
  private readonly listeners = new ListeningSockets();
  private readonly providers: Providers;
  /** The global meter provider the instruments were last made on, while following it. */
  private globalMeterProvider: MeterProvider;
  /** True once setMeterProvider() chose a provider: the global one is followed no more. */
  private meterProviderSet = false;
  private readonly log: JsonFindingLog | undefined;
  private readonly reporter: OtelReporter;
  private readonly reader: KernelReader;
  private readonly poller: Poller;
  private readonly stalls = new EventLoopStalls();
  /** Runs the observers the detectors declare. */
  private readonly observers: DetectorObservers;
  private stopped = false;

  constructor(
    options: ResolvedOptions,
    readonly startedBy: Starter,
  ) {
    this.options = options;
    forgetSaidFailures();
    this.globalMeterProvider = metrics.getMeterProvider();
    this.providers = new Providers(options.tracerProvider ?? trace.getTracerProvider(), options.meterProvider ?? this.globalMeterProvider);
    this.reporter = new OtelReporter({
      providers: this.providers,
      spans: options.spans,
      slowHandshakeMs: options.slowHandshakeMs,
      redactPeerAddresses: options.redactPeerAddresses,
      redactUrlPaths: options.redactUrlPaths,
      stateCounts: () => this.tracker.stateCounts(),
      poolCounts: () => poolConnectionCounts(this.tracker.liveConnections()),
    });
    // The span policy tells the model what to record; the model tells the reporter what happened.
    const recording = recordingPolicyFor({
      spans: options.spans,
      requireParentSpan: options.requireParentSpan,
      slowHandshakeMs: options.slowHandshakeMs,
      tracerProvider: () => this.providers.tracerProvider,
    });
    // For the sampling of creation stacks: each destination's closes, counted by the model, and
    // the destinations that had findings, told by the findings path.
    const siteCloses = new StackSiteCloses();
    const findingSites = new FindingSites();
    this.tracker = new ConnectionTracker(this.reporter, undefined, recording, siteCloses);
    this.observer = new NodeSocketObserver(
      this.tracker,
      { captureStacks: options.captureStacks, autoInstrument: options.autoInstrument, stackSampling: findingSites, stackHistory: siteCloses },
      (server, backlog) => {
        this.listeners.add(server, backlog);
        this.tracker.serverListening(server);
      },
    );
    this.requests = new HttpRequestObserver(this.tracker);
    this.reader = new KernelReader(kernelSourcesFor(options.source));
    this.log = options.log === undefined ? undefined : new JsonFindingLog(options.log, options.redactPeerAddresses, options.redactUrlPaths);
    const spans = new FindingSpanReporter(this.providers, (c) => this.reporter.connectionContext(c), options.redactPeerAddresses, options.redactUrlPaths);
    const findings = new FindingFanOut(this.log === undefined ? [findingSites, spans] : [findingSites, spans, this.log]);
    const measurements = new MeasurementMetrics(this.providers, options.redactPeerAddresses);
    const detectors = detectorsFor(options, { stalls: this.stalls, measurements });
    this.observers = new DetectorObservers(detectors, { 'event-loop-stalls': this.stalls });
    this.poller = new Poller({
      intervalMs: options.pollIntervalMs,
      tracker: this.tracker,
      listeners: this.listeners,
      reader: this.reader,
      detectors,
      findings,
      // A finding of this tick counts on the provider in force now: one registered since the
      // last tick (an SDK started after the drop-in) must be followed before detection, or the
      // first finding after it would be counted on the provider it replaced.
      beforeDetection: () => this.followGlobalMeterProvider(),
      afterDetection: () => {
        this.observers.update({ model: this.tracker, listeners: this.listeners, time: now() });
      },
    });
    this.observer.enable();
    if (options.followRequests) this.requests.enable();
    this.poller.start();
  }

  get source(): SocklifeHandle['source'] {
    return this.reader.current ?? 'none';
  }

  /**
   * The metrics API has no proxy provider (the trace API has): an SDK registered after
   * socklife started (the drop-in loads first) would never see its instruments. So while no
   * meter provider was given, each tick checks the global one and moves over when it changed.
   */
  private followGlobalMeterProvider(): void {
    if (this.options.meterProvider !== undefined || this.meterProviderSet) return;
    const global = metrics.getMeterProvider();
    if (global === this.globalMeterProvider) return;
    this.globalMeterProvider = global;
    this.providers.setMeterProvider(global);
  }

  setTracerProvider(provider: TracerProvider): void {
    this.providers.setTracerProvider(provider);
  }

  setMeterProvider(provider: MeterProvider): void {
    this.meterProviderSet = true;
    this.providers.setMeterProvider(provider);
  }

  instrumentServer(server: net.Server): void {
    if (!this.stopped) this.observer.observeServer(server);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.poller.stop();
    this.reader.stop();
    this.observers.stop();
    this.observer.disable();
    this.requests.disable();
    this.tracker.stop();
    this.listeners.clear();
    this.providers.stop();
    this.log?.stop();
    if (getActive() === this) setActive(undefined);
  }
}

/**
 * Starts following the TCP sockets of this process. Invalid options throw a TypeError that
 * names the option. Called while an instrumentation runs, it returns a handle on the running
 * one, warning that its options are ignored and that its `stop()` will not stop it.
 */
export function instrument(options?: SocklifeOptions): SocklifeHandle {
  return start('instrument', options);
}

/** Starts an instrumentation on behalf of `by` (a front end), or hands a second start the running one. */
export function start(by: Starter, options?: SocklifeOptions): SocklifeHandle {
  const resolved = resolveOptions(options);
  const active = getActive();
  if (active !== undefined) return secondStart(active, by);
  const instance = new Socklife(resolved, by);
  setActive(instance);
  return instance;
}

/**
 * Follows one server's connections. Uses the running instrumentation (its handle then leaves
 * it running at `stop()`), or starts one that follows only the servers given here
 * (`autoInstrument: false`).
 */
export function instrumentServer(server: net.Server, options?: Omit<SocklifeOptions, 'autoInstrument'>): SocklifeHandle {
  const active = getActive();
  const handle = active === undefined ? start('instrumentServer', { ...options, autoInstrument: false }) : new BorrowedHandle(active);
  handle.instrumentServer(server);
  return handle;
}
