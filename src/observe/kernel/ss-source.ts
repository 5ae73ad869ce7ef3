import { runTool } from './run-tool.js';
import { parseSs, SS_FILTER_STATE_NAMES } from './ss-parser.js';
import type { ParseResult } from './rows.js';
import type { KernelQuery, KernelSource } from './source.js';

/** Reads the TCP table with `ss`, letting the kernel filter by state and port. */
export class SsSource implements KernelSource {
  readonly name = 'ss' as const;

  constructor(
    private readonly command = 'ss',
    private readonly timeoutMs = 5000,
  ) {}

  async read(query: KernelQuery, signal?: AbortSignal): Promise<ParseResult> {
    const stdout = await runTool(this.name, this.command, ssArguments(query), this.timeoutMs, signal);
    // One distinct state in the filter makes ss drop the State column.
    const states = new Set(query.states);
    const impliedState = states.size === 1 ? query.states[0] : undefined;
    return parseSs(stdout, impliedState === undefined ? {} : { impliedState });
  }
}

/**
 * The fixed argv for one poll: TCP, numeric, all, with tcp_info (-i), inode (-e), timers (-o),
 * no header (-H), then the state and port filter as separate words (no shell ever parses them).
 */
export function ssArguments(query: KernelQuery): string[] {
  const argv = ['-t', '-a', '-n', '-i', '-e', '-o', '-H'];
  for (const state of new Set(query.states)) argv.push('state', SS_FILTER_STATE_NAMES[state]);
  const ports: string[][] = [
    ...(query.localPorts ?? []).map((p) => ['sport', '=', `:${p}`]),
    ...(query.peerPorts ?? []).map((p) => ['dport', '=', `:${p}`]),
    ...(query.portPairs ?? []).map((p) => ['(', 'sport', '=', `:${p.localPort}`, 'and', 'dport', '=', `:${p.peerPort}`, ')']),
  ];
  if (ports.length > 0) {
    argv.push('(');
    ports.forEach((words, i) => {
      if (i > 0) argv.push('or');
      argv.push(...words);
    });
    argv.push(')');
  }
  return argv;
}
