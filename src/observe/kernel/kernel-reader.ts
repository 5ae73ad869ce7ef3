import { diag } from '@opentelemetry/api';
import { KernelSourceChain, type KernelReaderOptions } from './source-chain.js';
import type { KernelSource } from './source.js';

export { MAX_CONSECUTIVE_FAILURES, type KernelReaderOptions, type KernelReading } from './source-chain.js';

/**
 * The library's kernel reader: the one fallback chain of sources, saying each condition
 * through `diag` (a source given up, the next one taking over, none left and socklife carrying
 * on with socket events only).
 */
export class KernelReader extends KernelSourceChain {
  constructor(sources: readonly KernelSource[], options: KernelReaderOptions = {}) {
    super(sources, { warn: (message) => diag.warn(message), ...options });
  }
}
