import {
  context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  ProxyTracerProvider,
  type Attributes,
  type Context,
  type Histogram,
  type Meter,
  type ObservableResult,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { CloseReason, Connection, FinMark, StateChange } from '../model/connection.js';
import type { ConnectionListener } from '../model/tracker.js';
import { ALL_TCP_STATES, type StateSource, type TcpState } from '../tcp-states.js';
import { endSpan, type Providers } from './providers.js';
import { isNotable, type SpanPolicy } from './span-policy.js';
import { ATTR, closeInitiator, endpointAttributes, errorType, peerRedacted, tcpInfoAttributes } from './attributes.js';

export { SCOPE_NAME } from './providers.js';

export interface OtelReporterOptions {
  readonly providers: Providers;
  /** Which connections get spans. */
  readonly spans: SpanPolicy;
  /** Under `anomalies`, a client handshake slower than this makes its connection notable. */
  readonly slowHandshakeMs: number;
  /** Make no client connection span without an active parent span. */
  readonly requireParentSpan: boolean;
  /** Leave the other end's address (and the names that resolve to it) out of every span. */
  readonly redactPeerAddresses: boolean;
  /** Live connection counts by state, read when metrics are collected. */
  readonly stateCounts: () => ReadonlyMap<TcpState, number>;
}

/** The spans of one recorded connection, kept on its record (`Connection.report`). */
interface ConnectionSpans {
  readonly connection: Span;
  readonly parent: Context;
  /** The connection span's context, made when a child span first needs it. */
  context: Context | undefined;
  /** False once `tcp.connection` has ended; the record stays for the after-close follow-up. */
  open: boolean;
  handshake: Span | undefined;
  halfClose: Span | undefined;
}

/**
 * A connection whose spans wait until it turns out notable (the `anomalies` policy): the
 * parent context it was opened in, and its state changes with their real times. Everything
 * else its spans need is on the record.
 */
class DeferredSpans {
  /**
   * The state changes, flat: state, source and time of each in turn, in an array of exactly
   * their length (`concat`). Every healthy connection holds this until it closes: an object per
   * change, or the spare room `push` leaves, cost it about 200 bytes more.
   */
  private entries: readonly (TcpState | StateSource | number)[] = NO_ENTRIES;
  constructor(readonly parent: Context) {}

  add(change: StateChange): void {
    this.entries = this.entries.concat(change.state, change.source, change.time);
  }

  /** The changes in the order they happened. */
  changes(): StateChange[] {
    const changes: StateChange[] = [];
    for (let i = 0; i + 2 < this.entries.length; i += 3) {
      changes.push({ state: this.entries[i] as TcpState, source: this.entries[i + 1] as StateSource, time: this.entries[i + 2] as number });
    }
    return changes;
  }
}
const NO_ENTRIES: readonly (TcpState | StateSource | number)[] = Object.freeze([]);

function spansOf(c: Connection): ConnectionSpans | undefined {
  const report = c.report as ConnectionSpans | DeferredSpans | undefined;
  return report instanceof DeferredSpans ? undefined : report;
}

/** The provider a ProxyTracerProvider forwards to while no SDK is registered. */
const NOOP_TRACER_PROVIDER = new ProxyTracerProvider().getDelegate();

/** The spans of a connection whose `tcp.connection` span is still open. */
function openSpansOf(c: Connection): ConnectionSpans | undefined {
  const spans = spansOf(c);
  return spans?.open === true ? spans : undefined;
}

function contextOf(spans: ConnectionSpans): Context {
  return (spans.context ??= trace.setSpan(spans.parent, spans.connection));
}

/**
 * Turns the model's lifecycle into OpenTelemetry spans and metrics. With no SDK registered
 * the spans are non-recording and nothing is kept. Under the `anomalies` policy a connection
 * makes no span object until it turns out notable (at close, or when a finding names it);
 * its spans are then made with their real times, through the same code as under `all`.
 */
export class OtelReporter implements ConnectionListener {
  private readonly providers: Providers;
  /** True while a deferred connection's past is replayed into its spans (metrics already counted it). */
  private replaying = false;
  private connectionDuration!: Histogram;
  private handshakeDuration!: Histogram;

  constructor(private readonly options: OtelReporterOptions) {
    this.providers = options.providers;
    this.providers.bindMeter((meter) => this.bindMeter(meter));
  }

  private get tracer(): Tracer {
    return this.providers.tracer;
  }

  private bindMeter(meter: Meter): () => void {
    this.connectionDuration = meter.createHistogram('tcp.connection.duration', {
      description: 'Time from connect()/accept to close of TCP connections.',
      unit: 's',
    });
    this.handshakeDuration = meter.createHistogram('tcp.handshake.duration', {
      description: 'Time from connect() to the end of the client handshake (DNS lookup included), or to its failure.',
      unit: 's',
    });
    const connectionCount = meter.createObservableUpDownCounter('tcp.connection.count', {
      description: 'Open TCP connections of this process, by state.',
      unit: '{connection}',
    });
    const stateCounts = this.options.stateCounts;
    const observe = (result: ObservableResult): void => {
      for (const [state, count] of stateCounts()) result.observe(count, { [ATTR.connectionState]: state });
    };
    connectionCount.addCallback(observe);
    return () => connectionCount.removeCallback(observe);
  }

  opened(c: Connection): boolean {
    const { spans: policy, requireParentSpan } = this.options;
    if (policy === 'findings') return false;
    const client = c.side === 'client';
    // A client connection belongs to whatever the caller was doing; an accepted one starts a trace.
    const parent = client ? context.active() : ROOT_CONTEXT;
    if (client && requireParentSpan && trace.getSpan(parent) === undefined) return false;
    if (policy === 'anomalies') {
      // With no SDK there is nothing to defer: keep nothing, as a non-recording span would.
      if (!this.sdkRegistered()) return false;
      c.report = new DeferredSpans(parent);
      return true;
    }
    return this.startSpans(c, parent);
  }

  /** True unless the provider is the global one with no SDK behind it. */
  private sdkRegistered(): boolean {
    const provider = this.providers.tracerProvider;
    return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NOOP_TRACER_PROVIDER;
  }

  /** Makes a connection's spans, as they begin; false when the SDK does not record them. */
  private startSpans(c: Connection, parent: Context): boolean {
    const client = c.side === 'client';
    const span = this.tracer.startSpan(
      'tcp.connection',
      { kind: client ? SpanKind.CLIENT : SpanKind.SERVER, startTime: c.createdAt, attributes: { [ATTR.networkTransport]: 'tcp', [ATTR.socketSide]: c.side } },
      parent,
    );
    // With no SDK the span records nothing: keep nothing, build no attributes.
    if (!span.isRecording()) return false;
    const spans: ConnectionSpans = { connection: span, parent, context: undefined, open: true, handshake: undefined, halfClose: undefined };
    // Only a client's handshake is seen: a server's finished in the kernel before accept().
    if (client) {
      spans.handshake = this.tracer.startSpan(
        'tcp.handshake',
        { kind: SpanKind.INTERNAL, startTime: c.createdAt, attributes: { [ATTR.networkTransport]: 'tcp', [ATTR.handshakeSource]: 'socket_event' } },
        contextOf(spans),
      );
    }
    c.report = spans;
    return true;
  }

  lookedUp(c: Connection): void {
    const spans = openSpansOf(c);
    const lookup = c.lookup;
    if (spans === undefined || lookup === undefined) return;
    const attributes: Attributes = {};
    if (!this.options.redactPeerAddresses) {
      attributes[ATTR.serverAddress] = lookup.host;
      if (lookup.address !== undefined) attributes[ATTR.networkPeerAddress] = lookup.address;
    }
    if (lookup.error !== undefined) attributes[ATTR.errorType] = errorType(lookup.error);
    (spans.handshake ?? spans.connection).addEvent('dns.lookup', attributes, lookup.at);
  }

  stateChanged(c: Connection, change: StateChange): void {
    // The handshake metric counts every client, recorded or not.
    if (change.state === 'established' && c.side === 'client' && !this.replaying) this.recordHandshake(c, change.time, undefined);
    if (c.report instanceof DeferredSpans) {
      c.report.add(change);
      return;
    }
    const spans = openSpansOf(c);
    if (spans === undefined) return;
    spans.connection.addEvent('tcp.state_change', stateChangeAttributes(change.state, change.source), change.time);
    if (change.state === 'established' && c.side === 'server') {
      spans.connection.setAttributes(this.endpoints(c));
    } else if (change.state === 'established' && spans.handshake !== undefined) {
      const endpoints = this.clientEndpoints(c);
      spans.connection.setAttributes(endpoints);
      spans.handshake.setAttributes(endpoints);
      this.endHandshake(spans, c, change.time, undefined);
    }
  }

  finSeen(c: Connection, fin: FinMark): void {
    const spans = openSpansOf(c);
    if (spans === undefined) return;
    if (fin === c.firstFin && spans.halfClose === undefined) {
      spans.halfClose = this.tracer.startSpan(
        'tcp.half_close',
        { kind: SpanKind.INTERNAL, startTime: fin.at, attributes: { [ATTR.networkTransport]: 'tcp', [ATTR.closeInitiator]: fin.by } },
        contextOf(spans),
      );
    } else if (fin === c.secondFin) {
      this.endHalfClose(spans, c, fin.at);
    }
  }

  closed(c: Connection): boolean {
    const end = c.closedAt ?? c.stateSince;
    this.connectionDuration.record(Math.max(0, end - c.createdAt) / 1000, durationAttributes(c.side, c.closeReason));
    const handshakeFailed = c.side === 'client' && c.connectedAt === undefined;
    const handshakeError = handshakeFailed ? (c.error ?? new HandshakeAborted(c.closeReason)) : undefined;
    if (handshakeError !== undefined) this.recordHandshake(c, end, handshakeError);
    if (c.report instanceof DeferredSpans) {
      if (isNotable(c, this.options.slowHandshakeMs)) this.materialize(c, c.report);
      else c.report = undefined;
    }
    const spans = openSpansOf(c);
    if (spans === undefined) return false;
    spans.open = false;
    if (handshakeFailed) {
      // A failed handshake: the endpoints come from getsockname() and the connect() target.
      const endpoints = this.clientEndpoints(c);
      spans.connection.setAttributes(endpoints);
      spans.handshake?.setAttributes(endpoints);
    }
    if (spans.handshake !== undefined) this.endHandshake(spans, c, end, handshakeError);
    this.endHalfClose(spans, c, end);
    const span = spans.connection;
    const initiator = closeInitiator(c);
    span.setAttribute(ATTR.bytesReceived, c.bytesRead);
    span.setAttribute(ATTR.bytesSent, c.bytesWritten);
    if (c.closeReason !== undefined) span.setAttribute(ATTR.closeReason, c.closeReason);
    if (initiator !== undefined) span.setAttribute(ATTR.closeInitiator, initiator);
    if (c.kernel?.row.tcpInfo !== undefined) span.setAttributes(tcpInfoAttributes(c, end));
    if (c.error !== undefined) {
      span.setAttribute(ATTR.errorType, errorType(c.error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: this.errorMessage(c.error) });
    }
    endSpan(span, end);
    return true;
  }

  /**
   * What the kernel did with a connection after Node closed it, as a follow-up span in the
   * connection's trace: the connection span has already ended and cannot take more events.
   */
  afterClose(c: Connection, sightings: readonly StateChange[]): void {
    const spans = spansOf(c);
    const parent = spans === undefined ? undefined : contextOf(spans);
    const first = sightings[0];
    const last = sightings.at(-1);
    if (parent === undefined || first === undefined || last === undefined) return;
    const span = this.tracer.startSpan(
      'tcp.after_close',
      {
        kind: SpanKind.INTERNAL,
        startTime: c.closedAt ?? first.time,
        attributes: {
          [ATTR.networkTransport]: 'tcp',
          ...this.endpoints(c),
          [ATTR.connectionState]: sightings.length > 1 ? (sightings.at(-2) as StateChange).state : first.state,
          [ATTR.stateSource]: 'kernel',
        },
      },
      parent,
    );
    for (const change of sightings) {
      span.addEvent('tcp.state_change', stateChangeAttributes(change.state, change.source), change.time);
    }
    endSpan(span, last.time);
  }

  /**
   * The context of a connection's open `tcp.connection` span, for a finding about it to join
   * its trace. A finding makes a deferred connection notable: its spans are made now.
   */
  connectionContext(c: Connection): Context | undefined {
    if (c.report instanceof DeferredSpans) this.materialize(c, c.report);
    const spans = openSpansOf(c);
    return spans === undefined ? undefined : contextOf(spans);
  }

  /**
   * Makes a deferred connection's spans as `all` would have made them: replays what it saw,
   * each with its real time, through the same methods. From here on it is recorded live.
   */
  private materialize(c: Connection, deferred: DeferredSpans): void {
    c.report = undefined;
    if (!this.startSpans(c, deferred.parent)) return;
    this.replaying = true;
    try {
      if (c.lookup !== undefined) this.lookedUp(c);
      for (const change of deferred.changes()) this.stateChanged(c, change);
      if (c.firstFin !== undefined) this.finSeen(c, c.firstFin);
      if (c.secondFin !== undefined) this.finSeen(c, c.secondFin);
    } finally {
      this.replaying = false;
    }
  }

  /** A connection's endpoint attributes, the peer's address left out under `redactPeerAddresses`. */
  private endpoints(c: Connection): Attributes {
    return peerRedacted(endpointAttributes(c), this.options.redactPeerAddresses);
  }

  /** An error's message names the peer (`connect ECONNREFUSED 10.0.0.7:443`): its type only, when redacting. */
  private errorMessage(error: Error): string {
    return this.options.redactPeerAddresses ? errorType(error) : error.message;
  }

  /** A client's endpoints, with the host name it asked for as `server.address` when it gave one. */
  private clientEndpoints(c: Connection): Attributes {
    const attributes = this.endpoints(c);
    const name = c.lookup?.host ?? c.target?.host;
    if (name !== undefined && attributes[ATTR.serverAddress] !== undefined) attributes[ATTR.serverAddress] = name;
    return attributes;
  }

  private endHandshake(spans: ConnectionSpans, c: Connection, end: number, error: Error | undefined): void {
    const handshake = spans.handshake;
    if (handshake === undefined) return;
    spans.handshake = undefined;
    if (error !== undefined) {
      handshake.setAttribute(ATTR.errorType, errorType(error));
      handshake.setStatus({ code: SpanStatusCode.ERROR, message: this.errorMessage(error) });
    }
    endSpan(handshake, end);
  }

  private recordHandshake(c: Connection, end: number, error: Error | undefined): void {
    this.handshakeDuration.record(Math.max(0, end - c.createdAt) / 1000, {
      [ATTR.networkTransport]: 'tcp',
      ...(error === undefined ? {} : { [ATTR.errorType]: errorType(error) }),
    });
  }

  private endHalfClose(spans: ConnectionSpans, c: Connection, end: number): void {
    const halfClose = spans.halfClose;
    const first = c.firstFin;
    if (halfClose === undefined || first === undefined) return;
    spans.halfClose = undefined;
    // Bytes that moved between the first FIN and the second (or the close).
    const last = c.secondFin ?? { at: end, bytesRead: c.bytesRead, bytesWritten: c.bytesWritten };
    halfClose.setAttributes({
      [ATTR.halfCloseBytesReceived]: Math.max(0, last.bytesRead - first.bytesRead),
      [ATTR.halfCloseBytesSent]: Math.max(0, last.bytesWritten - first.bytesWritten),
    });
    endSpan(halfClose, Math.min(end, last.at));
  }
}

/**
 * The attributes of every `tcp.state_change` event, made once per state and source (the SDK
 * copies event attributes, so one frozen object serves every event).
 */
const STATE_CHANGE_ATTRIBUTES = new Map<TcpState, Readonly<Record<StateSource, Attributes>>>(
  ALL_TCP_STATES.map((state) => [
    state,
    {
      socket_event: Object.freeze({ [ATTR.connectionState]: state, [ATTR.stateSource]: 'socket_event' }),
      kernel: Object.freeze({ [ATTR.connectionState]: state, [ATTR.stateSource]: 'kernel' }),
    },
  ]),
);
function stateChangeAttributes(state: TcpState, source: StateSource): Attributes {
  return (STATE_CHANGE_ATTRIBUTES.get(state) as Record<StateSource, Attributes>)[source];
}

/**
 * The attributes of `tcp.connection.duration`, one frozen object per side and close reason
 * (the metrics SDK reads them and keeps none it did not copy): none made per connection.
 */
const DURATION_ATTRIBUTES: Readonly<Record<Connection['side'], Map<CloseReason | undefined, Attributes>>> = { client: new Map(), server: new Map() };
function durationAttributes(side: Connection['side'], reason: CloseReason | undefined): Attributes {
  const bySide = DURATION_ATTRIBUTES[side];
  let attributes = bySide.get(reason);
  if (attributes === undefined) {
    const made: Attributes = { [ATTR.networkTransport]: 'tcp', [ATTR.socketSide]: side };
    if (reason !== undefined) made[ATTR.closeReason] = reason;
    attributes = Object.freeze(made);
    bySide.set(reason, attributes);
  }
  return attributes;
}

/** A handshake that ended without an error but never completed (destroyed, timed out). */
class HandshakeAborted extends Error {
  constructor(reason: string | undefined) {
    super(`connection closed before the handshake completed (${reason ?? 'destroyed'})`);
    this.name = reason === 'timeout' ? 'timeout' : 'aborted';
  }
}
