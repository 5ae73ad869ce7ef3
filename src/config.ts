import { SPAN_POLICIES } from './report/span-policy.js';
import { CONTINUOUS_THRESHOLDS } from './thresholds.js';
import type { ResolvedOptions, SocklifeOptions, SourceOption } from './types.js';

export const SOURCE_OPTIONS: readonly SourceOption[] = ['auto', 'ss', 'proc', 'netstat', 'none'];

/**
 * Defaults a healthy production server never trips (the thresholds and their reasons are in
 * `thresholds.ts`); polling every 5 s costs one small filtered `ss` run and puts a leak on
 * record within a poll of its threshold.
 */
export const DEFAULT_OPTIONS: ResolvedOptions = Object.freeze({
  pollIntervalMs: 5000,
  closeWaitThresholdMs: CONTINUOUS_THRESHOLDS.closeWaitMs,
  timeWaitThreshold: CONTINUOUS_THRESHOLDS.timeWait,
  synReceivedThreshold: CONTINUOUS_THRESHOLDS.synReceived,
  source: 'auto',
  spans: 'anomalies',
  slowHandshakeMs: CONTINUOUS_THRESHOLDS.slowHandshakeMs,
  requireParentSpan: false,
  log: undefined,
  captureStacks: true,
  autoInstrument: true,
  redactPeerAddresses: false,
  tracerProvider: undefined,
  meterProvider: undefined,
});

interface IntegerRule {
  readonly kind: 'integer';
  readonly min: number;
  readonly max: number;
  readonly unit: string;
}
interface EnumRule {
  readonly kind: 'enum';
  readonly values: readonly string[];
}
interface BooleanRule {
  readonly kind: 'boolean';
}
/** `'stderr'`, or a file path. */
interface LogTargetRule {
  readonly kind: 'log-target';
}
type Rule = IntegerRule | EnumRule | BooleanRule | LogTargetRule;

/** The options that also come from the environment, with what each allows. */
const RULES = {
  pollIntervalMs: { kind: 'integer', min: 10, max: 3_600_000, unit: 'milliseconds' },
  closeWaitThresholdMs: { kind: 'integer', min: 0, max: 7 * 86_400_000, unit: 'milliseconds' },
  timeWaitThreshold: { kind: 'integer', min: 1, max: 10_000_000, unit: 'sockets' },
  synReceivedThreshold: { kind: 'integer', min: 1, max: 10_000_000, unit: 'sockets' },
  source: { kind: 'enum', values: SOURCE_OPTIONS },
  spans: { kind: 'enum', values: SPAN_POLICIES },
  slowHandshakeMs: { kind: 'integer', min: 0, max: 3_600_000, unit: 'milliseconds' },
  requireParentSpan: { kind: 'boolean' },
  log: { kind: 'log-target' },
  captureStacks: { kind: 'boolean' },
  autoInstrument: { kind: 'boolean' },
  redactPeerAddresses: { kind: 'boolean' },
} as const satisfies Record<string, Rule>;

type EnvOption = keyof typeof RULES;
const ENV_OPTIONS = Object.keys(RULES) as EnvOption[];

function allowed(rule: Rule): string {
  switch (rule.kind) {
    case 'integer':
      return `an integer from ${rule.min} to ${rule.max} (${rule.unit})`;
    case 'enum':
      return `one of ${rule.values.map((v) => `'${v}'`).join(', ')}`;
    case 'boolean':
      return 'true or false';
    case 'log-target':
      return "'stderr' or the path of a file";
  }
}

function isValid(rule: Rule, value: unknown): boolean {
  switch (rule.kind) {
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value) && value >= rule.min && value <= rule.max;
    case 'enum':
      return typeof value === 'string' && rule.values.includes(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'log-target':
      return typeof value === 'string' && value.trim() !== '' && !value.includes('\0');
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function isProvider(value: unknown, method: 'getTracer' | 'getMeter'): boolean {
  return typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[method] === 'function';
}

/** Validates options given in code; the first bad one throws a TypeError naming it, its value and what is allowed. */
export function resolveOptions(options: SocklifeOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`socklife: options must be an object; got ${describe(options)}`);
  }
  const known = new Set<string>([...ENV_OPTIONS, 'tracerProvider', 'meterProvider']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) {
      throw new TypeError(`socklife: unknown option ${key}; known options are ${[...known].join(', ')}`);
    }
  }
  const resolved: Record<string, unknown> = { ...DEFAULT_OPTIONS };
  for (const name of ENV_OPTIONS) {
    const value = options[name];
    if (value === undefined) continue;
    const rule: Rule = RULES[name];
    if (!isValid(rule, value)) {
      throw new TypeError(`socklife: option ${name} must be ${allowed(rule)}; got ${describe(value)}`);
    }
    resolved[name] = value;
  }
  for (const [name, method] of [
    ['tracerProvider', 'getTracer'],
    ['meterProvider', 'getMeter'],
  ] as const) {
    const value = options[name];
    if (value === undefined) continue;
    if (!isProvider(value, method)) {
      throw new TypeError(`socklife: option ${name} must be an object with a ${method}() method; got ${describe(value)}`);
    }
    resolved[name] = value;
  }
  return Object.freeze(resolved) as unknown as ResolvedOptions;
}

/** `pollIntervalMs` → `SOCKLIFE_POLL_INTERVAL_MS`. */
export function envVariableName(option: string): string {
  return `SOCKLIFE_${option.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

/**
 * Reads options from the environment. A bad value gets one warning naming the variable and
 * falls back to the default: a typo in an observability setting must not stop a service.
 */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env, warn: (message: string) => void = emitWarning): SocklifeOptions {
  const options: Record<string, unknown> = {};
  for (const name of ENV_OPTIONS) {
    const variable = envVariableName(name);
    const raw = env[variable];
    if (raw === undefined || raw.trim() === '') continue;
    const rule: Rule = RULES[name];
    const value = parseEnvValue(rule, raw.trim());
    if (value === undefined || !isValid(rule, value)) {
      warn(
        `socklife: environment variable ${variable}=${JSON.stringify(raw)} is not ${allowed(rule)}; ` + `using the default ${describe(DEFAULT_OPTIONS[name])}`,
      );
      continue;
    }
    options[name] = value;
  }
  return options as SocklifeOptions;
}

function parseEnvValue(rule: Rule, raw: string): unknown {
  switch (rule.kind) {
    case 'integer':
      return /^\d+$/.test(raw) ? Number(raw) : undefined;
    case 'enum':
      return raw.toLowerCase();
    case 'boolean': {
      const lower = raw.toLowerCase();
      if (lower === 'true' || lower === '1') return true;
      if (lower === 'false' || lower === '0') return false;
      return undefined;
    }
    case 'log-target':
      return raw;
  }
}

function emitWarning(message: string): void {
  process.emitWarning(message, { code: 'SOCKLIFE_INVALID_ENV' });
}
