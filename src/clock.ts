import { performance } from 'node:perf_hooks';

/** Read once: `performance.timeOrigin` is a getter, and the origin never changes. */
const ORIGIN = performance.timeOrigin;

/** Epoch milliseconds with sub-millisecond precision, monotonic within the process. */
export function now(): number {
  return ORIGIN + performance.now();
}
