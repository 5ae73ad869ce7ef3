import { parseNetstatBsd, parseNetstatLinux } from './netstat-parser.js';
import type { ParseResult } from './rows.js';
import { runTool } from './run-tool.js';
import { filterRows, type KernelQuery, type KernelSource } from './source.js';

/** Reads the TCP table with `netstat`, the last resort where neither `ss` nor `/proc` works. */
export class NetstatSource implements KernelSource {
  readonly name = 'netstat' as const;

  constructor(
    private readonly command = 'netstat',
    private readonly timeoutMs = 5000,
    private readonly platform: NodeJS.Platform = process.platform,
  ) {}

  async read(query: KernelQuery, signal?: AbortSignal): Promise<ParseResult> {
    const stdout = await runTool(this.name, this.command, netstatArguments(this.platform), this.timeoutMs, signal);
    const parsed = this.platform === 'darwin' ? parseNetstatBsd(stdout) : parseNetstatLinux(stdout);
    return filterRows(parsed, query);
  }
}

/**
 * The fixed argv: netstat has no state or port filter, so this is all TCP sockets.
 * Linux: numeric, with uid and inode (-e), timers (-o), and -W, without which net-tools
 * cuts long IPv6 addresses short (sometimes into another valid address).
 */
export function netstatArguments(platform: NodeJS.Platform): string[] {
  return platform === 'darwin' ? ['-a', '-n', '-p', 'tcp'] : ['-t', '-a', '-n', '-e', '-o', '-W'];
}
