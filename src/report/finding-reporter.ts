import { ROOT_CONTEXT, SpanKind, SpanStatusCode, type Attributes, type Context, type Counter, type Meter } from '@opentelemetry/api';
import type { Finding, FindingSink, FindingType } from '../detect/finding.js';
import type { Connection } from '../model/connection.js';
import { ATTR, leakAttributes, peerRedacted } from './attributes.js';
import { endSpan, type Providers } from './providers.js';

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
  /** The connection whose trace the finding joins, if it is about one. */
  readonly connection?: Connection;
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
};

export function findingSpan(finding: Finding): FindingSpan {
  const build = FINDING_SPANS[finding.type] as (f: Finding) => FindingSpan;
  return build(finding);
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
    const attributes = peerRedacted(spec.attributes, this.redactPeerAddresses);
    const span = this.providers.tracer.startSpan(spec.name, { kind: SpanKind.INTERNAL, startTime: spec.startTime, attributes }, parent);
    span.setStatus({ code: SpanStatusCode.ERROR, message: spec.errorMessage });
    endSpan(span, spec.endTime);
  }
}
