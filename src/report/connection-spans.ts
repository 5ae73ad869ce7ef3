import { SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import type { Connection, FinMark, StateChange } from '../model/connection.js';
import { ATTR, closeInitiator, endpointAttributes, errorType, peerRedacted, stateChangeAttributes, tcpInfoAttributes } from './attributes.js';
import { endSpan } from './providers.js';
import { requestAttributes, requestSpanContext } from './request-attributes.js';

/** The spans of one connection whose spans are made: its `tcp.connection` and the children open now. */
export interface ConnectionSpans {
  readonly connection: Span;
  readonly parent: Context;
  /** The connection span's context, made when a child span first needs it. */
  context: Context | undefined;
  /** False once `tcp.connection` has ended; kept for the after-close follow-up. */
  open: boolean;
  handshake: Span | undefined;
  halfClose: Span | undefined;
}

/** The context a child of the connection span (a finding, the after-close span) joins. */
export function contextOf(spans: ConnectionSpans): Context {
  return (spans.context ??= trace.setSpan(spans.parent, spans.connection));
}

/**
 * Writes the spans that live with a connection: `tcp.connection`, a client's `tcp.handshake`,
 * and `tcp.half_close` between the first FIN and the second (or the close). It keeps no state:
 * the reporter holds each connection's `ConnectionSpans` and hands them in.
 */
export class ConnectionSpanWriter {
  constructor(
    private readonly tracer: () => Tracer,
    /** Leave the other end's address (and the names that resolve to it) out of every span. */
    private readonly redactPeerAddresses: boolean,
    /** Leave request paths out (`redactUrlPaths`). */
    private readonly redactUrlPaths = false,
  ) {}

  /** Starts a connection's spans at its creation; undefined when the SDK does not record them. */
  start(c: Connection, parent: Context): ConnectionSpans | undefined {
    const tracer = this.tracer();
    const client = c.side === 'client';
    const span = tracer.startSpan(
      'tcp.connection',
      { kind: client ? SpanKind.CLIENT : SpanKind.SERVER, startTime: c.createdAt, attributes: { [ATTR.networkTransport]: 'tcp', [ATTR.socketSide]: c.side } },
      parent,
    );
    // A span that records nothing (no SDK, sampled out): keep nothing, build no attributes.
    if (!span.isRecording()) return undefined;
    const spans: ConnectionSpans = { connection: span, parent, context: undefined, open: true, handshake: undefined, halfClose: undefined };
    // Only a client's handshake is seen: a server's finished in the kernel before accept().
    if (client) {
      spans.handshake = tracer.startSpan(
        'tcp.handshake',
        { kind: SpanKind.INTERNAL, startTime: c.createdAt, attributes: { [ATTR.networkTransport]: 'tcp', [ATTR.handshakeSource]: 'socket_event' } },
        contextOf(spans),
      );
    }
    return spans;
  }

  lookedUp(spans: ConnectionSpans, c: Connection): void {
    const lookup = c.lookup;
    if (lookup === undefined) return;
    const attributes: Attributes = {};
    if (!this.redactPeerAddresses) {
      attributes[ATTR.serverAddress] = lookup.host;
      if (lookup.address !== undefined) attributes[ATTR.networkPeerAddress] = lookup.address;
    }
    if (lookup.error !== undefined) attributes[ATTR.errorType] = errorType(lookup.error);
    (spans.handshake ?? spans.connection).addEvent('dns.lookup', attributes, lookup.at);
  }

  stateChanged(spans: ConnectionSpans, c: Connection, change: StateChange): void {
    spans.connection.addEvent('tcp.state_change', stateChangeAttributes(change.state, change.source), change.time);
    if (change.state === 'established' && c.side === 'server') {
      spans.connection.setAttributes(this.endpoints(c));
    } else if (change.state === 'established' && spans.handshake !== undefined) {
      const endpoints = this.clientEndpoints(c);
      spans.connection.setAttributes(endpoints);
      spans.handshake.setAttributes(endpoints);
      this.endHandshake(spans, change.time, undefined);
    }
  }

  finSeen(spans: ConnectionSpans, c: Connection, fin: FinMark): void {
    if (fin === c.firstFin && spans.halfClose === undefined) {
      spans.halfClose = this.tracer().startSpan(
        'tcp.half_close',
        { kind: SpanKind.INTERNAL, startTime: fin.at, attributes: { [ATTR.networkTransport]: 'tcp', [ATTR.closeInitiator]: fin.by } },
        contextOf(spans),
      );
    } else if (fin === c.secondFin) {
      this.endHalfClose(spans, c, fin.at);
    }
  }

  /** Ends the spans of a connection Node closed at `end`; `handshakeError` when a client's handshake failed. */
  closed(spans: ConnectionSpans, c: Connection, end: number, handshakeError: Error | undefined): void {
    spans.open = false;
    if (handshakeError !== undefined) {
      // A failed handshake: the endpoints come from getsockname() and the connect() target.
      const endpoints = this.clientEndpoints(c);
      spans.connection.setAttributes(endpoints);
      spans.handshake?.setAttributes(endpoints);
    }
    this.endHandshake(spans, end, handshakeError);
    this.endHalfClose(spans, c, end);
    const span = spans.connection;
    const initiator = closeInitiator(c);
    span.setAttribute(ATTR.bytesReceived, c.bytesRead);
    span.setAttribute(ATTR.bytesSent, c.bytesWritten);
    if (c.closeReason !== undefined) span.setAttribute(ATTR.closeReason, c.closeReason);
    if (initiator !== undefined) span.setAttribute(ATTR.closeInitiator, initiator);
    if (c.kernel?.row.tcpInfo !== undefined) span.setAttributes(tcpInfoAttributes(c, end));
    if (c.http !== undefined) this.requestsCarried(span, c);
    if (c.error !== undefined) {
      span.setAttribute(ATTR.errorType, errorType(c.error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: this.errorMessage(c.error) });
    }
    // An HTTP client connection says how its pool's life ended, where a reason fits.
    const httpReason = c.http?.closeReason;
    if (httpReason !== undefined) span.setAttribute(ATTR.errorType, httpReason);
    endSpan(span, end);
  }

  /** A connection that carried HTTP requests: its last one named, and a link to that request's span. */
  private requestsCarried(span: Span, c: Connection): void {
    span.setAttributes(requestAttributes(c, this.redactUrlPaths));
    const spanContext = requestSpanContext(c);
    // addLink came with API 1.9; an older API's span takes links only at its start.
    if (spanContext !== undefined && typeof span.addLink === 'function') span.addLink({ context: spanContext });
  }

  /** A connection's endpoint attributes, the peer's address left out under `redactPeerAddresses`. */
  endpoints(c: Connection): Attributes {
    return peerRedacted(endpointAttributes(c), this.redactPeerAddresses);
  }

  /** An error's message names the peer (`connect ECONNREFUSED 10.0.0.7:443`): its type only, when redacting. */
  private errorMessage(error: Error): string {
    return this.redactPeerAddresses ? errorType(error) : error.message;
  }

  /** A client's endpoints, with the host name it asked for as `server.address` when it gave one. */
  private clientEndpoints(c: Connection): Attributes {
    const attributes = this.endpoints(c);
    const name = c.lookup?.host ?? c.target?.host;
    if (name !== undefined && attributes[ATTR.serverAddress] !== undefined) attributes[ATTR.serverAddress] = name;
    return attributes;
  }

  private endHandshake(spans: ConnectionSpans, end: number, error: Error | undefined): void {
    const handshake = spans.handshake;
    if (handshake === undefined) return;
    spans.handshake = undefined;
    if (error !== undefined) {
      handshake.setAttribute(ATTR.errorType, errorType(error));
      handshake.setStatus({ code: SpanStatusCode.ERROR, message: this.errorMessage(error) });
    }
    endSpan(handshake, end);
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
