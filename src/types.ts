import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import type * as net from 'node:net';
import type { SPAN_POLICY_VALUES } from './option-schema.js';

/**
 * Which spans are made (`spans`). The values are the option schema's; the reporter's own
 * `SpanPolicy` must accept each of them, which the engine's wiring checks at compile time.
 */
export type SpanPolicy = (typeof SPAN_POLICY_VALUES)[number];

/** Where kernel socket state comes from. */
export type SourceOption =
  /** `ss`, then `/proc/net/tcp`, then `netstat`: the first that works, falling back at run time. */
  | 'auto'
  /** iproute2 `ss` only. */
  | 'ss'
  /** `/proc/net/tcp` and `/proc/net/tcp6` only (Linux, no child process). */
  | 'proc'
  /** `netstat` only (Linux net-tools or macOS). */
  | 'netstat'
  /** No kernel source: socket events only (CLOSE_WAIT behind an unread stream is then invisible). */
  | 'none';

/** Options of `instrument()`; each also has an environment variable `SOCKLIFE_` + its name in upper snake case. */
export interface SocklifeOptions {
  /** How often the kernel is polled and the detectors run, in milliseconds. Default 5000. */
  pollIntervalMs?: number;
  /** How long a connection may stay in CLOSE_WAIT (or wait for the peer's FIN after ours) before it is reported, in milliseconds. Default 60000. */
  closeWaitThresholdMs?: number;
  /** TIME_WAIT sockets on one listening port, or towards one destination, at which a `tcp.time_wait.accumulation` is reported. Default 5000. */
  timeWaitThreshold?: number;
  /** SYN_RECEIVED sockets on one listening socket at which a `tcp.listen.pressure` is reported. Default 128. */
  synReceivedThreshold?: number;
  /** Kernel source. Default `'auto'`. */
  source?: SourceOption;
  /** Which spans are made: `'findings'` only, `'anomalies'` (findings plus the spans of notable connections) or `'all'` connections. Default `'anomalies'`. */
  spans?: SpanPolicy;
  /** Under `'anomalies'`, a client handshake slower than this makes its connection notable, in milliseconds. Default 1000. */
  slowHandshakeMs?: number;
  /** Make no client connection spans without an active parent span. Default false. */
  requireParentSpan?: boolean;
  /** Also write each finding as one JSON line: `'stderr'`, or the path of a file to append to. Default: off. */
  log?: string;
  /** Capture the stack that created each socket (named in leak reports). Default true. */
  captureStacks?: boolean;
  /** Follow every TCP socket of the process through `diagnostics_channel`; false: only servers given to `instrumentServer()`. Default true. */
  autoInstrument?: boolean;
  /**
   * Leave the other end's address out of spans and the JSON log: `network.peer.address`,
   * `server.address` (and the host name a client asked for), `client.address`, the `dns.lookup`
   * event's names and answers, and error messages (which may name the peer; `error.type` stays).
   * Ports stay. Default false.
   */
  redactPeerAddresses?: boolean;
  /**
   * Leave request paths out of spans and the JSON log: `url.path` is not set on any span of a
   * connection that carried HTTP requests (`http.route`, a template, stays). Default false.
   */
  redactUrlPaths?: boolean;
  /**
   * Follow the HTTP requests on each connection (the last request, its span link, keep-alive
   * races, the pool metrics). `false` leaves Node's HTTP prototypes and channels alone: to
   * measure what following costs, or to rule it out. Default true.
   */
  followRequests?: boolean;
  /** Tracer provider for spans. Default: the global one (`@opentelemetry/api` `trace`). Not settable from the environment. */
  tracerProvider?: TracerProvider;
  /** Meter provider for metrics. Default: the global one (`@opentelemetry/api` `metrics`). Not settable from the environment. */
  meterProvider?: MeterProvider;
}

/** The options in force, defaults filled in. */
export interface ResolvedOptions {
  readonly pollIntervalMs: number;
  readonly closeWaitThresholdMs: number;
  readonly timeWaitThreshold: number;
  readonly synReceivedThreshold: number;
  readonly source: SourceOption;
  readonly spans: SpanPolicy;
  readonly slowHandshakeMs: number;
  readonly requireParentSpan: boolean;
  readonly log: string | undefined;
  readonly captureStacks: boolean;
  readonly autoInstrument: boolean;
  readonly redactPeerAddresses: boolean;
  readonly redactUrlPaths: boolean;
  readonly followRequests: boolean;
  readonly tracerProvider: TracerProvider | undefined;
  readonly meterProvider: MeterProvider | undefined;
}

/** A running instrumentation, as returned by `instrument()`. */
export interface SocklifeHandle {
  /** The options in force. */
  readonly options: ResolvedOptions;
  /** The kernel source in use now (`'none'` when there is none left, or none was wanted). */
  readonly source: 'ss' | 'proc' | 'netstat' | 'none';
  /** Follows the connections this server accepts (an `http.Server` is a `net.Server`). */
  instrumentServer(server: net.Server): void;
  /** Sends spans from now on to this provider (spans already open end where they began). */
  setTracerProvider(provider: TracerProvider): void;
  /** Makes socklife's instruments on this provider from now on. */
  setMeterProvider(provider: MeterProvider): void;
  /** Stops polling, unsubscribes, restores patched methods and forgets every connection. */
  stop(): void;
}

/** Options of `SocklifeInstrumentation`: those of `instrument()`, and whether to start at once. */
export interface SocklifeInstrumentationConfig extends SocklifeOptions {
  /** Start when made, as OpenTelemetry instrumentations do. Default true. */
  enabled?: boolean;
}
