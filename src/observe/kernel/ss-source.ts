import { runTool } from './run-tool.js';
import { parseSs, SS_FILTER_STATE_NAMES } from './ss-parser.js';
import type { ParseResult } from './rows.js';
import type { KernelQuery, KernelSource } from './source.js';

/** Reads the TCP table with `ss`, letting the kernel filter by state and port. */
export class SsSource implements KernelSource {
  readonly name = 'ss' as const;

  /** @param holdProcess keep the process alive while `ss` runs (a one-shot command); a poll never does. */
  constructor(
    private readonly command = 'ss',
    private readonly timeoutMs = 5000,
    private readonly holdProcess = false,
  ) {}

  async read(query: KernelQuery, signal?: AbortSignal): Promise<ParseResult> {
    const stdout = await runTool(this.name, this.command, ssArguments(query), this.timeoutMs, signal, this.holdProcess);
    // One distinct state in the filter makes ss drop the State column.
    const states = new Set(query.states);
    const impliedState = states.size === 1 ? query.states[0] : undefined;
    return parseSs(stdout, impliedState === undefined ? {} : { impliedState });
  }
}

/**
 * The fixed argv for one poll: TCP, numeric, all, with tcp_info (-i), inode (-e), timers (-o),
 * no header (-H), then the state and port filter as separate words (no shell ever parses them).
 * Every word is a fixed one or `:` and a port checked to be an integer in 0..65535; anything
 * else is left out of the filter (which only widens it), never passed on.
 */
export function ssArguments(query: KernelQuery): string[] {
  const argv = ['-t', '-a', '-n', '-i', '-e', '-o', '-H'];
  for (const state of new Set(query.states)) {
    const name = SS_FILTER_STATE_NAMES[state] as string | undefined;
    if (name !== undefined) argv.push('state', name);
  }
  const ports: string[][] = [
    ...(query.localPorts ?? []).filter(isPort).map((p) => ['sport', '=', `:${p}`]),
    ...(query.peerPorts ?? []).filter(isPort).map((p) => ['dport', '=', `:${p}`]),
    ...(query.portPairs ?? [])
      .filter((p) => isPort(p.localPort) && isPort(p.peerPort))
      .map((p) => ['(', 'sport', '=', `:${p.localPort}`, 'and', 'dport', '=', `:${p.peerPort}`, ')']),
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

function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 65535;
}
