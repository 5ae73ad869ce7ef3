import { context, ROOT_CONTEXT, type Context } from '@opentelemetry/api';
import type { Connection, FinMark, StateChange } from '../model/connection.js';
import type { ConnectionListener } from '../model/listener.js';
import type { TcpState } from '../tcp-states.js';
import { writeAfterCloseSpan } from './after-close-span.js';
import type { PoolConnectionCount } from '../model/pool-connections.js';
import { ConnectionMetrics } from './connection-metrics.js';
import { PoolMetrics } from './pool-metrics.js';
import { ConnectionSpanWriter, contextOf, type ConnectionSpans } from './connection-spans.js';
import { deferredSpans, isDeferred, isOpeningChange, materialize, withChange, type DeferredSpans } from './deferred-spans.js';
import { handshakeFailure } from './handshake.js';
import type { Providers } from './providers.js';
import { isNotable, type SpanPolicy } from './span-policy.js';

export interface OtelReporterOptions {
  readonly providers: Providers;
  /** Which connections get spans; the model records (`Connection.recorded`) those that may. */
  readonly spans: SpanPolicy;
  /** Under `anomalies`, a client handshake slower than this makes its connection notable. */
  readonly slowHandshakeMs: number;
  /** Leave the other end's address (and the names that resolve to it) out of every span. */
  readonly redactPeerAddresses: boolean;
  /** Leave request paths out of every span. Default false. */
  readonly redactUrlPaths?: boolean;
  /** Live connection counts by state, read when metrics are collected. */
  readonly stateCounts: () => ReadonlyMap<TcpState, number>;
  /** Open HTTP client connections by destination, read when metrics are collected. */
  readonly poolCounts?: () => Iterable<PoolConnectionCount>;
}

/**
 * Turns the model's lifecycle into OpenTelemetry spans and metrics. Spans are made for the
 * connections the model records (its recording policy, built from the span policy, decided
 * at open). Under `anomalies` a connection makes no span object until it turns out notable
 * (at close, or when a finding names it); its spans are then made with their real times, by
 * the same writer as under `all`.
 *
 * Its own state per recorded connection (its spans, or what they wait for) is kept here, by
 * connection id, and let go at close, or after the after-close follow-up when the model
 * follows the connection in the kernel.
 */
export class OtelReporter implements ConnectionListener {
  private readonly metrics: ConnectionMetrics;
  private readonly pools: PoolMetrics;
  private readonly writer: ConnectionSpanWriter;
  /** By connection id: an integer key costs the record no identity hash. */
  private readonly connections = new Map<number, ConnectionSpans | DeferredSpans>();
  /**
   * How many connections have an open `tcp.connection` span. Under `anomalies` it is mostly 0:
   * the events that only open spans take (a FIN, a lookup) then cost no lookup.
   */
  private openSpans = 0;

  constructor(private readonly options: OtelReporterOptions) {
    const providers = options.providers;
    this.metrics = new ConnectionMetrics(providers, options.stateCounts);
    this.pools = new PoolMetrics(providers, options.poolCounts ?? (() => []), options.redactPeerAddresses);
    this.writer = new ConnectionSpanWriter(() => providers.tracer, options.redactPeerAddresses, options.redactUrlPaths ?? false);
  }

  opened(c: Connection): void {
    if (!c.recorded || this.options.spans === 'findings') return;
    // A client connection belongs to whatever the caller was doing; an accepted one starts a trace.
    const parent = c.side === 'client' ? context.active() : ROOT_CONTEXT;
    if (this.options.spans === 'anomalies') this.connections.set(c.id, deferredSpans(parent));
    else this.track(c, this.writer.start(c, parent));
  }

  lookedUp(c: Connection): void {
    const spans = this.openSpansOf(c);
    if (spans !== undefined) this.writer.lookedUp(spans, c);
  }

  stateChanged(c: Connection): void {
    // The handshake metric counts every client, recorded or not.
    if (c.state === 'established' && c.side === 'client') this.metrics.handshakeEnded(c, c.stateSince, undefined);
    if (!c.recorded) return;
    // Under anomalies a connection's first change cannot find spans yet, and its record says it.
    if (this.options.spans === 'anomalies' && isOpeningChange(c)) return;
    const state = this.connections.get(c.id);
    if (isDeferred(state)) this.connections.set(c.id, withChange(state, c));
    else if (state?.open === true) this.writer.stateChanged(state, c, { state: c.state, source: c.stateSource, time: c.stateSince });
  }

  finSeen(c: Connection, fin: FinMark): void {
    const spans = this.openSpansOf(c);
    if (spans !== undefined) this.writer.finSeen(spans, c, fin);
  }

  closed(c: Connection): void {
    const end = c.closedAt ?? c.stateSince;
    this.metrics.connectionClosed(c, end);
    if (c.http !== undefined) this.pools.connectionClosed(c, end);
    const handshakeError = handshakeFailure(c);
    if (handshakeError !== undefined) this.metrics.handshakeEnded(c, end, handshakeError);
    if (!c.recorded) return;
    let state = this.connections.get(c.id);
    if (isDeferred(state)) state = isNotable(c, this.options.slowHandshakeMs) ? this.materialize(c, state) : undefined;
    if (state?.open === true) {
      this.writer.closed(state, c, end, handshakeError);
      this.openSpans--;
    }
    // The connection span's context stays for the after-close span, while the model follows it.
    if (state === undefined || !c.followedAfterClose) this.connections.delete(c.id);
  }

  afterClose(c: Connection, sightings: readonly StateChange[]): void {
    const state = this.connections.get(c.id);
    this.connections.delete(c.id);
    if (state === undefined || isDeferred(state)) return;
    writeAfterCloseSpan(this.options.providers.tracer, contextOf(state), c, sightings, this.writer.endpoints(c));
  }

  /**
   * The context of a connection's open `tcp.connection` span, for a finding about it to join
   * its trace. A finding makes a deferred connection notable: its spans are made now.
   */
  connectionContext(c: Connection): Context | undefined {
    const state = this.connections.get(c.id);
    const spans = isDeferred(state) ? this.materialize(c, state) : state;
    return spans?.open === true ? contextOf(spans) : undefined;
  }

  /** How many connections the reporter holds state for (a test's view of what it keeps). */
  get held(): number {
    return this.connections.size;
  }

  /** A deferred connection's spans, made now; from here on it is recorded live. */
  private materialize(c: Connection, deferred: DeferredSpans): ConnectionSpans | undefined {
    const spans = materialize(c, deferred, this.writer);
    this.track(c, spans);
    return spans;
  }

  /** Keeps a connection's spans (just started); undefined: the SDK records none, nothing is kept. */
  private track(c: Connection, spans: ConnectionSpans | undefined): void {
    if (spans === undefined) {
      this.connections.delete(c.id);
      return;
    }
    this.connections.set(c.id, spans);
    this.openSpans++;
  }

  /** The spans of a connection whose `tcp.connection` span is still open. */
  private openSpansOf(c: Connection): ConnectionSpans | undefined {
    if (this.openSpans === 0 || !c.recorded) return undefined;
    const state = this.connections.get(c.id);
    return isDeferred(state) || state?.open !== true ? undefined : state;
  }
}
