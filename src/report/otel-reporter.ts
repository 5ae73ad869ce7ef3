import {
  context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Counter,
  type Histogram,
  type Meter,
  type MeterProvider,
  type ObservableResult,
  type ObservableUpDownCounter,
  type Span,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type { CloseWaitLeak } from '../detect/close-wait-leak.js';
import type { Connection, StateChange } from '../model/connection.js';
import type { ConnectionListener } from '../model/tracker.js';
import type { TcpState } from '../tcp-states.js';
import { VERSION } from '../version.js';
import { ATTR, closeInitiator, endpointAttributes, leakAttributes } from './attributes.js';

export const SCOPE_NAME = 'socklife';

export interface OtelReporterOptions {
  readonly tracerProvider: TracerProvider;
  readonly meterProvider: MeterProvider;
  /** Live connection counts by state, read when metrics are collected. */
  readonly stateCounts: () => ReadonlyMap<TcpState, number>;
}

/**
 * Turns the model's lifecycle and the detectors' findings into OpenTelemetry spans and
 * metrics. With no SDK registered the spans are non-recording and nothing is kept.
 */
export class OtelReporter implements ConnectionListener {
  private readonly tracer: Tracer;
  private readonly meter: Meter;
  private readonly spans = new WeakMap<Connection, Span>();
  private readonly connectionDuration: Histogram;
  private readonly leakCount: Counter;
  private readonly connectionCount: ObservableUpDownCounter;
  private readonly observeCounts: (result: ObservableResult) => void;

  constructor(options: OtelReporterOptions) {
    this.tracer = options.tracerProvider.getTracer(SCOPE_NAME, VERSION);
    this.meter = options.meterProvider.getMeter(SCOPE_NAME, VERSION);
    this.connectionDuration = this.meter.createHistogram('tcp.connection.duration', {
      description: 'Time from connect()/accept to close of TCP connections.',
      unit: 's',
    });
    this.leakCount = this.meter.createCounter('tcp.close_wait.leak.count', {
      description: 'Connections found stuck in CLOSE_WAIT past the threshold.',
      unit: '{connection}',
    });
    this.connectionCount = this.meter.createObservableUpDownCounter('tcp.connection.count', {
      description: 'Open TCP connections of this process, by state.',
      unit: '{connection}',
    });
    const stateCounts = options.stateCounts;
    this.observeCounts = (result) => {
      for (const [state, count] of stateCounts()) result.observe(count, { [ATTR.connectionState]: state });
    };
    this.connectionCount.addCallback(this.observeCounts);
  }

  stop(): void {
    this.connectionCount.removeCallback(this.observeCounts);
  }

  opened(c: Connection): void {
    // A client connection belongs to whatever the caller was doing; an accepted one starts a trace.
    const parent = c.side === 'client' ? context.active() : ROOT_CONTEXT;
    const span = this.tracer.startSpan(
      'tcp.connection',
      {
        kind: c.side === 'client' ? SpanKind.CLIENT : SpanKind.SERVER,
        startTime: c.createdAt,
        attributes: { [ATTR.networkTransport]: 'tcp', [ATTR.socketSide]: c.side, ...endpointAttributes(c) },
      },
      parent,
    );
    if (span.isRecording()) this.spans.set(c, span);
  }

  stateChanged(c: Connection, change: StateChange): void {
    const span = this.spans.get(c);
    if (span === undefined) return;
    if (change.state === 'established' && c.side === 'client') span.setAttributes(endpointAttributes(c));
    span.addEvent(
      'tcp.state_change',
      { [ATTR.connectionState]: change.state, [ATTR.stateSource]: change.source },
      change.time,
    );
  }

  closed(c: Connection): void {
    const end = c.closedAt ?? c.stateSince;
    const attributes: Attributes = { [ATTR.networkTransport]: 'tcp', [ATTR.socketSide]: c.side };
    if (c.closeReason !== undefined) attributes[ATTR.closeReason] = c.closeReason;
    this.connectionDuration.record(Math.max(0, end - c.createdAt) / 1000, attributes);
    const span = this.spans.get(c);
    if (span === undefined) return;
    this.spans.delete(c);
    const initiator = closeInitiator(c);
    span.setAttributes({
      [ATTR.bytesReceived]: c.bytesRead,
      [ATTR.bytesSent]: c.bytesWritten,
      ...(c.closeReason === undefined ? {} : { [ATTR.closeReason]: c.closeReason }),
      ...(initiator === undefined ? {} : { [ATTR.closeInitiator]: initiator }),
    });
    if (c.error !== undefined) {
      const code = (c.error as Error & { code?: unknown }).code;
      span.setAttribute(ATTR.errorType, typeof code === 'string' ? code : c.error.name);
      span.setStatus({ code: SpanStatusCode.ERROR, message: c.error.message });
    }
    span.end(end);
  }

  /** One short span per leak, in the connection's trace, ended at once: the connection may never close. */
  closeWaitLeak(leak: CloseWaitLeak): void {
    const c = leak.connection;
    const connectionSpan = this.spans.get(c);
    const parent = connectionSpan === undefined ? ROOT_CONTEXT : trace.setSpan(ROOT_CONTEXT, connectionSpan);
    const span = this.tracer.startSpan(
      'tcp.close_wait.leak',
      { kind: SpanKind.INTERNAL, startTime: leak.since, attributes: leakAttributes(leak) },
      parent,
    );
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: `socket in CLOSE_WAIT for ${Math.round(leak.durationMs)} ms: ${leak.cause}`,
    });
    span.end(leak.detectedAt);
    this.leakCount.add(1, { [ATTR.closeWaitCause]: leak.cause, [ATTR.socketSide]: c.side });
  }
}
