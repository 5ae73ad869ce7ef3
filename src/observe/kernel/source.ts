import { matcher, type KernelQuery } from './query.js';
import type { ParseResult } from './rows.js';

export type { KernelQuery, PortPair } from './query.js';

/** Names of the kernel sources, in the order `source: 'auto'` tries them. */
export const KERNEL_SOURCE_NAMES = ['ss', 'proc', 'netstat'] as const;
export type KernelSourceName = (typeof KERNEL_SOURCE_NAMES)[number];

/** A way to read the kernel's TCP table. Implementations do I/O; parsing is in pure functions. */
export interface KernelSource {
  readonly name: KernelSourceName;
  /**
   * Reads the rows the query asks for. Rejects with `KernelSourceError` when the source cannot
   * run, or at once when `signal` aborts (its child process, if any, is killed).
   */
  read(query: KernelQuery, signal?: AbortSignal): Promise<ParseResult>;
}

/** The source could not be used (tool missing, permission, timeout, unreadable file). */
export class KernelSourceError extends Error {
  /** True when trying again cannot help (the tool is missing, the file unreadable). */
  readonly permanent: boolean;

  constructor(
    readonly source: KernelSourceName,
    message: string,
    options?: { cause?: unknown; permanent?: boolean },
  ) {
    super(`${source}: ${message}`, options);
    this.name = 'KernelSourceError';
    this.permanent = options?.permanent ?? true;
  }
}

/** Keeps the rows a source could not filter itself (a port filter that `/proc` has no way to apply). */
export function filterRows(result: ParseResult, query: KernelQuery): ParseResult {
  return { rows: result.rows.filter(matcher(query)), skipped: result.skipped };
}
