import type { PortRange } from '../observe/kernel/kernel-counters.js';

/**
 * Ephemeral ports towards one destination. A connection is a 4-tuple, so towards one
 * address and port a client has one local port per connection: the ephemeral range
 * (`ip_local_port_range`) is the limit per destination, and each socket in TIME_WAIT still
 * holds its port.
 */

/** How many ports the range holds. */
export function rangeSize(range: PortRange): number {
  return range.high - range.low + 1;
}

/** One poll's ports in use towards a destination: its TIME_WAIT sockets plus the open connections. */
export interface PortUseSample {
  /** Epoch ms. */
  readonly time: number;
  readonly used: number;
}

/** The share of the range in use, 0..1. */
export function utilization(used: number, size: number): number {
  if (size <= 0) return 1;
  return Math.min(1, Math.max(0, used / size));
}

/** Samples kept per destination for its growth rate. */
export const RATE_SAMPLES = 5;
/** The span those samples cover at least, when polls come faster than this over `RATE_SAMPLES`. */
export const RATE_WINDOW_MS = 10_000;

/**
 * Keeps a poll's sample (one per `RATE_WINDOW_MS / RATE_SAMPLES` at most, the last
 * `RATE_SAMPLES` of them, oldest first) and returns the oldest kept before it: the rate is
 * measured from there. A poll's own growth is too uneven: a busy event loop starts no
 * connections for a while, then many at once, and an open connection that closes into
 * TIME_WAIT keeps its port.
 */
export function keepSample(samples: PortUseSample[], current: PortUseSample): PortUseSample | undefined {
  const oldest = samples[0];
  const last = samples.at(-1);
  if (last === undefined || current.time - last.time >= RATE_WINDOW_MS / RATE_SAMPLES) {
    samples.push(current);
    if (samples.length > RATE_SAMPLES) samples.shift();
  }
  return oldest;
}

/**
 * Seconds until the range is used up if ports keep being taken as fast as they were between
 * the two samples; undefined unless the use grew between them (a steady or falling count
 * never exhausts the range). Zero once the range is used up.
 */
export function secondsToExhaustion(previous: PortUseSample | undefined, current: PortUseSample, size: number): number | undefined {
  if (previous === undefined) return undefined;
  const seconds = (current.time - previous.time) / 1000;
  const growth = current.used - previous.used;
  if (seconds <= 0 || growth <= 0) return undefined;
  return Math.max(0, size - current.used) / (growth / seconds);
}
