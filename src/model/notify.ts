import { diag } from '@opentelemetry/api';

/**
 * Calls a listener (a reporter, a detector's sink) so that its failure stays its own: it is
 * logged, and the caller's bookkeeping and the next listener go on. Returns `fallback` when
 * the call threw.
 */
export function guarded<T>(what: string, call: () => T, fallback: T): T {
  try {
    return call();
  } catch (error) {
    diag.error(`socklife: ${what} threw`, error);
    return fallback;
  }
}
