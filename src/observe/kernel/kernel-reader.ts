import { diag } from '@opentelemetry/api';
import type { KernelSocketRow } from './rows.js';
import { KernelSourceError, type KernelQuery, type KernelSource, type KernelSourceName } from './source.js';

export interface KernelReading {
  readonly source: KernelSourceName;
  readonly rows: readonly KernelSocketRow[];
  readonly skipped: number;
}

/**
 * Reads through a chain of sources. When one fails it says so once, through `diag`, and the
 * next takes over for good; with none left, socklife carries on with socket events only.
 */
export class KernelReader {
  private index = 0;
  private readonly warned = new Set<string>();

  constructor(private readonly sources: readonly KernelSource[]) {}

  /** The source in use, or undefined when none is left. */
  get current(): KernelSourceName | undefined {
    return this.sources[this.index]?.name;
  }

  async read(query: KernelQuery): Promise<KernelReading | undefined> {
    while (this.index < this.sources.length) {
      const source = this.sources[this.index] as KernelSource;
      try {
        const result = await source.read(query);
        if (result.skipped > 0) this.warnOnce(`skip:${source.name}`, `socklife: ${source.name}: skipped ${result.skipped} malformed line(s)`);
        return { source: source.name, rows: result.rows, skipped: result.skipped };
      } catch (error) {
        this.index++;
        const next = this.current;
        const reason = error instanceof KernelSourceError ? error.message : String(error);
        diag.warn(
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
    diag.warn(message);
  }
}
