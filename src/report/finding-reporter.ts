import { ROOT_CONTEXT, SpanKind, SpanStatusCode, type Attributes, type Context, type Counter, type Link, type Meter } from '@opentelemetry/api';
import type { Finding, FindingSink, FindingType } from '../detect/finding.js';
import type { Connection } from '../model/connection.js';
import { ATTR, halfCloseStuckAttributes, leakAttributes, peerRedacted, timeWaitAttributes } from './attributes.js';
import {
  racePredictedAttributes,
  racePredictedMessage,
  serverClosesFirstAttributes,
  serverClosesFirstMessage,
  staleReuseAttributes,
  staleReuseMessage,
} from './keepalive-attributes.js';
import { listenPressureAttributes, listenPressureMessage } from './listener-attributes.js';
import { endSpan, type Providers } from './providers.js';
import { requestAttributes, requestLinks, urlPathRedacted } from './request-attributes.js';

/** The span that tells one finding. */
export interface FindingSpan {
  readonly name: string;
  /** Epoch ms: when the condition began (or was first seen). */
  readonly startTime: number;
  /** Epoch ms: when it was found; the span ends then, since the condition may never end. */
  readonly endTime: number;
  readonly attributes: Attributes;
  /** Status ERROR with this message. */
  readonly errorMessage: string;
  /** False when its addresses are this process's own (a listener): `redactPeerAddresses` leaves them. Default true. */
  readonly namesPeers?: boolean;
  /** The connection whose trace the finding joins, if it is about one. */
  readonly connection?: Connection;
  /** A link to the span of the last request the connection carried, when one was active. */
  readonly links?: Link[];
}

/** How each type of finding becomes a span: one entry per type, one reason to change each. */
const FINDING_SPANS: { readonly [K in FindingType]: (finding: Extract<Finding, { type: K }>) => FindingSpan } = {
  close_wait_leak: (leak) => ({
    name: 'tcp.close_wait.leak',
    startTime: leak.since,
    endTime: leak.detectedAt,
    attributes: leakAttributes(leak),
    errorMessage: `socket in CLOSE_WAIT for ${Math.round(leak.durationMs)} ms: ${leak.cause}`,
    connection: leak.connection,
  }),
  listen_pressure: (pressure) => ({
    name: 'tcp.listen.pressure',
    startTime: pressure.since,
    endTime: pressure.detectedAt,
    attributes: listenPressureAttributes(pressure),
    errorMessage: listenPressureMessage(pressure),
    namesPeers: false,
  }),
  half_close_stuck: (stuck) => ({
    name: 'tcp.half_close.stuck',
    startTime: stuck.since,
    endTime: stuck.detectedAt,
    attributes: halfCloseStuckAttributes(stuck),
    errorMessage:
      `half-close stuck in ${stuck.state} for ${(stuck.durationMs / 1000).toFixed(1)} s: ` +
      (stuck.cause === 'peer_not_closing' ? 'the peer acknowledged our FIN and never closed its side' : 'the peer has not acknowledged our FIN') +
      ` (${stuck.cause})`,
    connection: stuck.connection,
  }),
  keepalive_stale_reuse: (f) => ({
    name: 'tcp.keepalive.stale_reuse',
    startTime: f.since,
    endTime: Math.max(f.since, f.detectedAt),
    attributes: staleReuseAttributes(f),
    errorMessage: staleReuseMessage(f),
    connection: f.connection,
  }),
  keepalive_race_predicted: (f) => ({
    name: 'tcp.keepalive.race_predicted',
    startTime: f.since,
    endTime: Math.max(f.since, f.detectedAt),
    attributes: racePredictedAttributes(f),
    errorMessage: racePredictedMessage(f),
  }),
  keepalive_server_closes_first: (f) => ({
    name: 'tcp.keepalive.server_closes_first',
    startTime: f.since,
    endTime: Math.max(f.since, f.detectedAt),
    attributes: serverClosesFirstAttributes(f),
    errorMessage: serverClosesFirstMessage(f),
  }),
  time_wait_accumulation: (tw) => ({
    name: 'tcp.time_wait.accumulation',
    startTime: tw.since,
    endTime: tw.detectedAt,
    attributes: timeWaitAttributes(tw),
    errorMessage:
      tw.side === 'server'
        ? `server side: ${tw.count} sockets in TIME_WAIT on listening port ${tw.port} (threshold ${tw.threshold})`
        : // The destination's address is in server.address (left out under redactPeerAddresses), not in the message.
          `client side: ${tw.count} sockets in TIME_WAIT towards port ${tw.destination.port} (threshold ${tw.threshold})` + reuseNote(tw.requestsPerConnection),
  }),
};

/** What the TIME_WAIT finding says of its destination's HTTP pool when it opens about one connection per request. */
function reuseNote(requestsPerConnection: number | undefined): string {
  if (requestsPerConnection === undefined || requestsPerConnection >= REUSE_RATIO_ABOUT_ONE) return '';
  return `; its HTTP clients carried ${requestsPerConnection.toFixed(2)} requests per connection: a pool opening a connection per request (keep-alive off, or its connections closed after each response) is the usual cause`;
}

/** Below this many requests per connection, a pool is said to open a connection per request. */
export const REUSE_RATIO_ABOUT_ONE = 1.2;

/** A finding's span; about a connection that carried HTTP requests, it names the last one and links to its span. */
export function findingSpan(finding: Finding): FindingSpan {
  const build = FINDING_SPANS[finding.type] as (f: Finding) => FindingSpan;
  const spec = build(finding);
  const c = spec.connection;
  if (c?.http === undefined) return spec;
  const links = requestLinks(c);
  return { ...spec, attributes: { ...spec.attributes, ...requestAttributes(c, false) }, ...(links === undefined ? {} : { links }) };
}

/**
 * Reports findings as short spans (kind INTERNAL, status ERROR), each in the trace of the
 * connection it is about when there is one, and counts them by type.
 */
export class FindingSpanReporter implements FindingSink {
  private findingCount!: Counter;
  private leakCount!: Counter;

  constructor(
    private readonly providers: Providers,
    /** The context of a connection's open `tcp.connection` span, when one is recorded. */
    private readonly connectionContext: (c: Connection) => Context | undefined,
    /** Leave the other end's address out (`redactPeerAddresses`). */
    private readonly redactPeerAddresses = false,
    /** Leave request paths out (`redactUrlPaths`). */
    private readonly redactUrlPaths = false,
  ) {
    providers.bindMeter((meter) => this.bindMeter(meter));
  }

  private bindMeter(meter: Meter): () => void {
    this.findingCount = meter.createCounter('tcp.finding.count', {
      description: 'Findings reported, by type.',
      unit: '{finding}',
    });
    this.leakCount = meter.createCounter('tcp.close_wait.leak.count', {
      description: 'Connections found stuck in CLOSE_WAIT past the threshold.',
      unit: '{connection}',
    });
    return () => {};
  }

  report(finding: Finding): void {
    // Counted first: a tracer that throws must not lose the count (and the meter never throws).
    this.findingCount.add(1, { [ATTR.findingType]: finding.type });
    if (finding.type === 'close_wait_leak') {
      this.leakCount.add(1, { [ATTR.closeWaitCause]: finding.cause, [ATTR.socketSide]: finding.connection.side });
    }
    const spec = findingSpan(finding);
    const parent = (spec.connection === undefined ? undefined : this.connectionContext(spec.connection)) ?? ROOT_CONTEXT;
    const attributes = urlPathRedacted(peerRedacted(spec.attributes, this.redactPeerAddresses && spec.namesPeers !== false), this.redactUrlPaths);
    const span = this.providers.tracer.startSpan(
      spec.name,
      { kind: SpanKind.INTERNAL, startTime: spec.startTime, attributes, ...(spec.links === undefined ? {} : { links: spec.links }) },
      parent,
    );
    span.setStatus({ code: SpanStatusCode.ERROR, message: spec.errorMessage });
    endSpan(span, spec.endTime);
  }
}
