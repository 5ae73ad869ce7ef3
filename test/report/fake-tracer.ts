import {
  trace,
  TraceFlags,
  type Attributes,
  type AttributeValue,
  type Context,
  type Link,
  type Span,
  type SpanContext,
  type SpanOptions,
  type SpanStatus,
  type TimeInput,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';

/** One event a span was given. */
export interface FakeEvent {
  readonly name: string;
  readonly attributes: Attributes | undefined;
  readonly time: TimeInput | undefined;
}

let nextId = 1;

/** A span that records every call made on it, in plain fields a test reads. */
export class FakeSpan implements Span {
  readonly attributes: Attributes;
  readonly events: FakeEvent[] = [];
  status: SpanStatus | undefined;
  endTime: TimeInput | undefined;
  ended = false;
  private readonly context: SpanContext;

  constructor(
    readonly name: string,
    readonly options: SpanOptions,
    /** The span of the context it was started in, if any. */
    readonly parent: Span | undefined,
    private readonly recording: boolean,
  ) {
    this.attributes = { ...options.attributes };
    const id = String(nextId++).padStart(16, '0');
    this.context = { traceId: id.padStart(32, '0'), spanId: id, traceFlags: recording ? TraceFlags.SAMPLED : TraceFlags.NONE };
  }

  get startTime(): TimeInput | undefined {
    return this.options.startTime;
  }

  spanContext(): SpanContext {
    return this.context;
  }
  setAttribute(key: string, value: AttributeValue): this {
    this.attributes[key] = value;
    return this;
  }
  setAttributes(attributes: Attributes): this {
    Object.assign(this.attributes, attributes);
    return this;
  }
  addEvent(name: string, attributesOrTime?: Attributes | TimeInput, time?: TimeInput): this {
    const attributes =
      typeof attributesOrTime === 'object' && !Array.isArray(attributesOrTime) && !(attributesOrTime instanceof Date) ? attributesOrTime : undefined;
    this.events.push({ name, attributes, time });
    return this;
  }
  /** Links added after the start (those given at the start are in `options.links`). */
  readonly links: Link[] = [];
  addLink(link: Link): this {
    this.links.push(link);
    return this;
  }
  addLinks(links: Link[]): this {
    this.links.push(...links);
    return this;
  }
  setStatus(status: SpanStatus): this {
    this.status = status;
    return this;
  }
  updateName(): this {
    return this;
  }
  end(endTime?: TimeInput): void {
    if (this.ended) throw new Error(`span ${this.name} ended twice`);
    this.ended = true;
    this.endTime = endTime;
  }
  isRecording(): boolean {
    return this.recording && !this.ended;
  }
  recordException(): void {}
}

/** A tracer that makes `FakeSpan`s and keeps them all, in the order they were started. */
export class FakeTracer implements Tracer {
  readonly spans: FakeSpan[] = [];
  /** False: every span it makes records nothing, as a sampler that drops them would. */
  recording = true;

  startSpan(name: string, options: SpanOptions = {}, context?: Context): Span {
    const span = new FakeSpan(name, options, context === undefined ? undefined : trace.getSpan(context), this.recording);
    this.spans.push(span);
    return span;
  }

  startActiveSpan(): never {
    throw new Error('socklife never starts an active span');
  }

  /** The spans of one name, in the order they were started. */
  named(name: string): FakeSpan[] {
    return this.spans.filter((s) => s.name === name);
  }
}

/** A provider that hands out one `FakeTracer`. */
export class FakeTracerProvider implements TracerProvider {
  readonly tracer = new FakeTracer();
  getTracer(): Tracer {
    return this.tracer;
  }
}
