import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseProcNetTcp } from './proc-net-tcp-parser.js';
import type { ParseResult } from './rows.js';
import { filterRows, KernelSourceError, type KernelQuery, type KernelSource } from './source.js';

/**
 * Reads `/proc/net/tcp` and `/proc/net/tcp6` without a child process. The kernel cannot
 * filter these files, so every row is parsed and the query is applied afterwards.
 */
export class ProcNetSource implements KernelSource {
  readonly name = 'proc' as const;

  /** @param netDir `/proc/net`, or `/proc/<pid>/net` to read another process's network namespace. */
  constructor(private readonly netDir = '/proc/net') {}

  async read(query: KernelQuery): Promise<ParseResult> {
    const [v4, v6] = await Promise.all([this.readTable('tcp', false), this.readTable('tcp6', true)]);
    const a = parseProcNetTcp(v4);
    const b = parseProcNetTcp(v6);
    return filterRows({ rows: [...a.rows, ...b.rows], skipped: a.skipped + b.skipped }, query);
  }

  /** tcp6 is missing when IPv6 is disabled; that is an empty table, not a failure. */
  private async readTable(file: string, mayBeMissing: boolean): Promise<string> {
    const path = join(this.netDir, file);
    try {
      return await readFile(path, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException | undefined)?.code;
      if (mayBeMissing && code === 'ENOENT') return '';
      throw new KernelSourceError(this.name, `cannot read ${path}${code ? ` (${code})` : ''}`, { cause: error });
    }
  }
}
