import { parseArgs } from 'node:util';
import { allowedText, isAllowed, MAX_PID, OPTION_DEFAULTS, OPTION_RULES, type FractionRule, type IntegerRule } from '../option-schema.js';
import { SNAPSHOT_THRESHOLDS, type Thresholds } from '../thresholds.js';

/** The subcommands, in the order help lists them. */
export const COMMANDS = ['doctor', 'states', 'watch'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** A bad command line: the message names the option, the value and what is allowed. Exit code 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: CommandName,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

type ValueRule = IntegerRule | FractionRule;

export interface OptionSpec {
  /** Long name without dashes: `pid` for `--pid`. */
  readonly name: string;
  /** What the value is called in help (`N`); absent for a flag, which takes no value. */
  readonly placeholder?: string;
  readonly rule?: ValueRule;
  readonly defaultValue?: number;
  readonly description: string;
}

export { MAX_PID };

export type { Thresholds } from '../thresholds.js';

/** The snapshot thresholds (their reasons are in `thresholds.ts`). */
export const DEFAULT_THRESHOLDS = SNAPSHOT_THRESHOLDS;

export const DEFAULT_INTERVAL_MS = OPTION_DEFAULTS.cli.intervalMs;

const PID: OptionSpec = {
  name: 'pid',
  placeholder: 'N',
  rule: OPTION_RULES.pid,
  description: 'the process to examine: its sockets, found through /proc/N/fd',
};
const PORT: OptionSpec = {
  name: 'port',
  placeholder: 'P',
  rule: OPTION_RULES.port,
  description: 'sockets whose local or peer port is P, of any process (with --pid: only that process\u2019s)',
};
const JSON_FLAG: OptionSpec = { name: 'json', description: 'print JSON instead of text (watch: one JSON object per line)' };
const HELP_FLAG: OptionSpec = { name: 'help', description: 'show this help' };
const TIME_WAIT_THRESHOLD: OptionSpec = {
  name: 'time-wait-threshold',
  placeholder: 'N',
  rule: OPTION_RULES.timeWaitThreshold,
  defaultValue: OPTION_DEFAULTS.cli.timeWaitThreshold,
  description: 'TIME_WAIT sockets that are too many: towards one destination or on one listening port (doctor), in all (states, watch)',
};

export const COMMAND_OPTIONS: Readonly<Record<CommandName, readonly OptionSpec[]>> = {
  doctor: [
    PID,
    PORT,
    JSON_FLAG,
    {
      name: 'close-wait-threshold-ms',
      placeholder: 'MS',
      rule: OPTION_RULES.closeWaitThresholdMs,
      defaultValue: OPTION_DEFAULTS.cli.closeWaitThresholdMs,
      description: 'CLOSE_WAIT at least this old is a finding (age unknown: always)',
    },
    {
      name: 'fin-wait-threshold-ms',
      placeholder: 'MS',
      rule: OPTION_RULES.finWaitThresholdMs,
      defaultValue: OPTION_DEFAULTS.cli.finWaitThresholdMs,
      description: 'FIN_WAIT_1 and FIN_WAIT_2 at least this old are findings (age unknown: always)',
    },
    TIME_WAIT_THRESHOLD,
    {
      name: 'listen-queue-threshold',
      placeholder: 'F',
      rule: OPTION_RULES.listenQueueThreshold,
      defaultValue: OPTION_DEFAULTS.cli.listenQueueThreshold,
      description: 'an accept queue this full (a fraction of its backlog, 0 < F <= 1) is a finding',
    },
    HELP_FLAG,
  ],
  states: [PID, PORT, JSON_FLAG, TIME_WAIT_THRESHOLD, HELP_FLAG],
  watch: [
    PID,
    PORT,
    JSON_FLAG,
    TIME_WAIT_THRESHOLD,
    {
      name: 'interval-ms',
      placeholder: 'MS',
      rule: OPTION_RULES.intervalMs,
      defaultValue: OPTION_DEFAULTS.cli.intervalMs,
      description: 'time between frames',
    },
    {
      name: 'count',
      placeholder: 'K',
      rule: OPTION_RULES.count,
      description: 'stop after K frames (default: run until Ctrl-C)',
    },
    HELP_FLAG,
  ],
};

/** What to look at: a process, a port, both (the process's sockets on that port), or neither (the whole network namespace). */
export interface Target {
  readonly pid?: number;
  readonly port?: number;
}

export interface DoctorInvocation {
  readonly kind: 'doctor';
  readonly target: Target;
  readonly json: boolean;
  readonly thresholds: Thresholds;
}

export interface StatesInvocation {
  readonly kind: 'states';
  readonly target: Target;
  readonly json: boolean;
  readonly timeWaitThreshold: number;
}

export interface WatchInvocation {
  readonly kind: 'watch';
  readonly target: Target;
  readonly json: boolean;
  readonly timeWaitThreshold: number;
  readonly intervalMs: number;
  /** Frames to draw before stopping; undefined: until SIGINT or SIGTERM. */
  readonly count: number | undefined;
}

export interface HelpInvocation {
  readonly kind: 'help';
  /** Help of one command; undefined: the top-level help. */
  readonly command?: CommandName;
}

export interface VersionInvocation {
  readonly kind: 'version';
}

export type Invocation = DoctorInvocation | StatesInvocation | WatchInvocation | HelpInvocation | VersionInvocation;

function isCommand(word: string): word is CommandName {
  return (COMMANDS as readonly string[]).includes(word);
}

/**
 * Reads the command line (without `node` and the script). Throws UsageError, whose message
 * names the option, the value it got and what it allows.
 */
export function parseCommandLine(argv: readonly string[]): Invocation {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError(`socklife: missing command; expected one of ${COMMANDS.join(', ')}`);
  if (first === '--help' || first === '-h') return { kind: 'help' };
  if (first === '--version') return { kind: 'version' };
  if (first === 'help') {
    const topic = rest[0];
    if (topic === undefined) return { kind: 'help' };
    if (!isCommand(topic)) throw new UsageError(`socklife help: unknown command ${JSON.stringify(topic)}; expected one of ${COMMANDS.join(', ')}`);
    return { kind: 'help', command: topic };
  }
  if (!isCommand(first)) {
    const what = first.startsWith('-') ? `option ${first}` : `command ${JSON.stringify(first)}`;
    throw new UsageError(`socklife: unknown ${what}; expected one of ${COMMANDS.join(', ')} (or --help, --version)`);
  }
  const command = first;
  const values = readOptions(command, rest);
  if (values.flags.has('help')) return { kind: 'help', command };
  const option = (name: string): number | undefined => values.numbers.get(name);
  const target: Target = { pid: option('pid'), port: option('port') };
  const json = values.flags.has('json');
  const timeWaitThreshold = option('time-wait-threshold') ?? DEFAULT_THRESHOLDS.timeWait;
  switch (command) {
    case 'doctor':
      if (target.pid === undefined && target.port === undefined) {
        throw new UsageError('socklife doctor: give --pid N (a process) or --port P (a port), or both', command);
      }
      return {
        kind: 'doctor',
        target,
        json,
        thresholds: {
          closeWaitMs: option('close-wait-threshold-ms') ?? DEFAULT_THRESHOLDS.closeWaitMs,
          finWaitMs: option('fin-wait-threshold-ms') ?? DEFAULT_THRESHOLDS.finWaitMs,
          timeWait: timeWaitThreshold,
          listenQueue: option('listen-queue-threshold') ?? DEFAULT_THRESHOLDS.listenQueue,
        },
      };
    case 'states':
      return { kind: 'states', target, json, timeWaitThreshold };
    case 'watch':
      return {
        kind: 'watch',
        target,
        json,
        timeWaitThreshold,
        intervalMs: option('interval-ms') ?? DEFAULT_INTERVAL_MS,
        count: option('count'),
      };
  }
}

interface OptionValues {
  readonly flags: ReadonlySet<string>;
  readonly numbers: ReadonlyMap<string, number>;
}

/** parseArgs (strict, no positionals) over the command's options, then each value checked against its rule. */
function readOptions(command: CommandName, args: readonly string[]): OptionValues {
  const specs = COMMAND_OPTIONS[command];
  const config: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const spec of specs) config[spec.name] = spec.placeholder === undefined ? { type: 'boolean' } : { type: 'string' };
  config.help = { type: 'boolean', short: 'h' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...args], options: config, strict: true, allowPositionals: false });
  } catch (error) {
    throw new UsageError(describeParseError(command, specs, error), command);
  }
  const flags = new Set<string>();
  const numbers = new Map<string, number>();
  // Asking for help is never an error, whatever else is on the line.
  if (parsed.values.help === true) return { flags: new Set(['help']), numbers };
  for (const spec of specs) {
    const value = parsed.values[spec.name];
    if (value === undefined) continue;
    if (typeof value === 'boolean') {
      if (value) flags.add(spec.name);
    } else if (typeof value === 'string' && spec.rule !== undefined) {
      numbers.set(spec.name, checkValue(command, spec, spec.rule, value));
    }
  }
  return { flags, numbers };
}

/**
 * What a rule allows, in the words of the error messages and the help: an integer's unit is
 * said only where the flag's name carries one (`-ms`); a count's flag names what it counts.
 */
export function allowedValues(rule: ValueRule, flag?: string): string {
  return allowedText(rule, flag === undefined || flag.endsWith('-ms'));
}

function checkValue(command: CommandName, spec: OptionSpec, rule: ValueRule, text: string): number {
  const value = parseValue(rule, text);
  if (value === undefined) {
    throw new UsageError(`socklife ${command}: option --${spec.name} must be ${allowedValues(rule, spec.name)}; got ${JSON.stringify(text)}`, command);
  }
  return value;
}

function parseValue(rule: ValueRule, text: string): number | undefined {
  switch (rule.kind) {
    case 'integer': {
      // Digits only: no sign, exponent, hex or spaces, so "1e3" or " 80" is an error, not a surprise.
      if (!/^\d{1,16}$/.test(text)) return undefined;
      const n = Number(text);
      return isAllowed(rule, n) ? n : undefined;
    }
    case 'fraction': {
      if (!/^(\d+(\.\d*)?|\.\d+)$/.test(text)) return undefined;
      const n = Number(text);
      return isAllowed(rule, n) ? n : undefined;
    }
  }
}

/** parseArgs errors carry a code; their messages are reworded to name the option and what it allows. */
function describeParseError(command: CommandName, specs: readonly OptionSpec[], error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  const message = error instanceof Error ? error.message : String(error);
  const quoted = /'([^']+)'/.exec(message)?.[1] ?? '';
  const known = specs.map((s) => `--${s.name}`).join(', ');
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `socklife ${command}: unknown option ${quoted}; known options are ${known}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `socklife ${command}: unexpected argument ${JSON.stringify(quoted)}; options are ${known}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const name = /--([a-z-]+)/.exec(quoted)?.[1] ?? '';
      const spec = specs.find((s) => s.name === name);
      if (spec?.rule !== undefined) {
        return `socklife ${command}: option --${name} needs a value: ${allowedValues(spec.rule, name)} (write --${name}=VALUE for a value that starts with '-')`;
      }
      if (spec !== undefined) return `socklife ${command}: option --${name} takes no value`;
      return `socklife ${command}: ${message}`;
    }
    default:
      return `socklife ${command}: ${message}`;
  }
}
