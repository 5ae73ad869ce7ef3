import type { KernelSocketRow } from './rows.js';
import { KernelSourceError, type KernelQuery, type KernelSource, type KernelSourceName } from './source.js';

export interface KernelReading {
  readonly source: KernelSourceName;
  readonly rows: readonly KernelSocketRow[];
  readonly skipped: number;
}

/** Failures in a row after which a source that may recover (a timeout, an error exit) is given up. */
export const MAX_CONSECUTIVE_FAILURES = 3;

export interface KernelReaderOptions {
  /** Failures in a row after which a source that may recover is given up. Default `MAX_CONSECUTIVE_FAILURES`; 1 for a one-shot read. */
  readonly maxConsecutiveFailures?: number;
  /** Told each time a source is given up, with why (the CLI notes it in its report). */
  readonly onGiveUp?: (source: KernelSourceName, reason: string, error: unknown) => void;
  /** Where each condition is said, once. Default: nowhere (the library's `KernelReader` says it through `diag`). */
  readonly warn?: (message: string) => void;
}

/**
 * The one fallback chain of kernel sources, for the library and the CLI. A source that cannot
 * work (missing, unreadable) is given up at once; one that fails otherwise (hangs, exits with
 * an error, prints nothing readable) after `maxConsecutiveFailures` failures in a row, each
 * read meanwhile going without kernel rows. Each condition is said once (`warn`); the next
 * source takes over for good, and with none left reads answer nothing. Imports no
 * OpenTelemetry: the CLI uses it as it is.
 */
export class KernelSourceChain {
  private index = 0;
  private failures = 0;
  private readonly aborter = new AbortController();
  private readonly warned = new Set<string>();

  private readonly maxFailures: number;

  constructor(
    private readonly sources: readonly KernelSource[],
    private readonly options: KernelReaderOptions = {},
  ) {
    this.maxFailures = options.maxConsecutiveFailures ?? MAX_CONSECUTIVE_FAILURES;
  }

  /** The source in use, or undefined when none is left. */
  get current(): KernelSourceName | undefined {
    return this.sources[this.index]?.name;
  }

  /** Stops a read in flight (its child process killed) and every later one. */
  stop(): void {
    this.aborter.abort();
  }

  async read(query: KernelQuery): Promise<KernelReading | undefined> {
    while (this.index < this.sources.length && !this.aborter.signal.aborted) {
      const source = this.sources[this.index] as KernelSource;
      try {
        const result = await source.read(query, this.aborter.signal);
        // Lines and not one row: a tool that prints something else (a usage text, a changed format).
        if (result.rows.length === 0 && result.skipped > 0) {
          throw new KernelSourceError(source.name, `printed ${result.skipped} line(s), none of them a socket row`, { permanent: false });
        }
        this.failures = 0;
        if (result.skipped > 0) this.warnOnce(`skip:${source.name}`, `socklife: ${source.name}: skipped ${result.skipped} malformed line(s)`);
        return { source: source.name, rows: result.rows, skipped: result.skipped };
      } catch (error) {
        if (this.aborter.signal.aborted) return undefined;
        const reason = error instanceof KernelSourceError ? error.message : String(error);
        const permanent = !(error instanceof KernelSourceError) || error.permanent;
        if (!permanent && ++this.failures < this.maxFailures) {
          this.warnOnce(`transient:${source.name}`, `socklife: kernel source failed (${reason}); trying it again at the next poll`);
          return undefined;
        }
        this.failures = 0;
        this.index++;
        this.options.onGiveUp?.(source.name, reason, error);
        const next = this.current;
        this.options.warn?.(
          next === undefined
            ? `socklife: kernel source failed (${reason}); no source left, continuing with socket events only`
            : `socklife: kernel source failed (${reason}); switching to ${next}`,
        );
      }
    }
    return undefined;
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.options.warn?.(message);
  }
}
