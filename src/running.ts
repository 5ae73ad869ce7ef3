import { diag, type MeterProvider, type TracerProvider } from '@opentelemetry/api';
import type * as net from 'node:net';
import type { ResolvedOptions, SocklifeHandle } from './types.js';

/** Who started an instrumentation; a second start's warning names both. */
export type Starter = 'drop-in' | 'instrument' | 'instrumentation-class' | 'instrumentServer';

const STARTERS: Readonly<Record<Starter, { readonly call: string; readonly running: string; readonly stop: string | undefined; readonly it: string }>> = {
  'drop-in': { call: 'the drop-in (socklife/register)', running: 'the drop-in (socklife/register)', stop: undefined, it: 'the drop-in' },
  instrument: { call: 'instrument()', running: 'the instrumentation instrument() started', stop: 'stop()', it: 'it' },
  'instrumentation-class': {
    call: 'SocklifeInstrumentation.enable()',
    running: 'the instrumentation SocklifeInstrumentation.enable() started',
    stop: 'disable()',
    it: 'it',
  },
  instrumentServer: { call: 'instrumentServer()', running: 'the instrumentation instrumentServer() started', stop: 'stop()', it: 'it' },
};

/** A running instrumentation, as the process-wide slot holds it (the CommonJS and ES module builds share it). */
export interface RunningInstrumentation extends SocklifeHandle {
  readonly startedBy: Starter;
}

// One instrumentation per process, shared by the CommonJS and ES module builds.
const ACTIVE = Symbol.for('socklife.active');
type GlobalWithActive = typeof globalThis & { [ACTIVE]?: RunningInstrumentation };

export function getActive(): RunningInstrumentation | undefined {
  return (globalThis as GlobalWithActive)[ACTIVE];
}

export function setActive(instance: RunningInstrumentation | undefined): void {
  (globalThis as GlobalWithActive)[ACTIVE] = instance;
}

/**
 * What a second start gets: the first start owns the instrumentation. The second gets a handle
 * on the running one, and a warning naming both starters: its options are ignored, and its
 * `stop()` (or `disable()`) does not stop what it did not start.
 */
export function secondStart(running: RunningInstrumentation, by: Starter): SocklifeHandle {
  diag.warn(secondStartWarning(running.startedBy, by));
  return new BorrowedHandle(running);
}

export function secondStartWarning(first: Starter, second: Starter): string {
  const a = STARTERS[first];
  const b = STARTERS[second];
  const stop = b.stop === undefined ? '' : ` and ${b.stop} will not stop ${a.it}`;
  return `socklife: ${b.call} while ${a.running} is running: its options are ignored${stop}`;
}

/**
 * A handle on an instrumentation someone else started: it reads the running one and may give
 * it providers and servers, but `stop()` leaves it running.
 */
export class BorrowedHandle implements SocklifeHandle {
  constructor(private readonly running: SocklifeHandle) {}

  get options(): ResolvedOptions {
    return this.running.options;
  }

  get source(): SocklifeHandle['source'] {
    return this.running.source;
  }

  instrumentServer(server: net.Server): void {
    this.running.instrumentServer(server);
  }

  setTracerProvider(provider: TracerProvider): void {
    this.running.setTracerProvider(provider);
  }

  setMeterProvider(provider: MeterProvider): void {
    this.running.setMeterProvider(provider);
  }

  /** Leaves the instrumentation running: its starter stops it. */
  stop(): void {}
}
