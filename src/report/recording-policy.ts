import { context, trace, type TracerProvider } from '@opentelemetry/api';
import type { Connection } from '../model/connection.js';
import { RECORD_NOTHING, type RecordingPolicy } from '../model/recording-policy.js';
import { sdkRegistered } from './sdk-detection.js';
import { isNotable, type SpanPolicy } from './span-policy.js';

export interface SpanRecordingOptions {
  readonly spans: SpanPolicy;
  /** Make no client connection span without an active parent span. */
  readonly requireParentSpan: boolean;
  /** Under `anomalies`, a client handshake slower than this makes its connection notable. */
  readonly slowHandshakeMs: number;
  /** The tracer provider spans are made on now (it may change after start-up). */
  readonly tracerProvider: () => TracerProvider;
}

/**
 * What the model must record for the span policy, as the model's configuration: a connection
 * that may get spans is recorded (its endpoints read at once); one whose spans are made is
 * followed after close, so that what the kernel does with it joins its trace.
 */
export function recordingPolicyFor(options: SpanRecordingOptions): RecordingPolicy {
  const { spans, requireParentSpan, slowHandshakeMs, tracerProvider } = options;
  if (spans === 'findings') return RECORD_NOTHING;
  return {
    record(c: Connection): boolean {
      // A client connection belongs to whatever the caller was doing: without it, no span.
      if (c.side === 'client' && requireParentSpan && trace.getSpan(context.active()) === undefined) return false;
      return sdkRegistered(tracerProvider());
    },
    // Under `anomalies` only a notable connection has spans at close for the follow-up to join.
    followAfterClose: spans === 'all' ? () => true : (c: Connection) => isNotable(c, slowHandshakeMs),
  };
}
