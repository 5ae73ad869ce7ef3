import { allowedText, isAllowed, OPTION_DEFAULTS, OPTION_RULES, SOURCE_VALUES, type OptionRule } from './option-schema.js';
import type { ResolvedOptions, SocklifeOptions, SourceOption } from './types.js';

export const SOURCE_OPTIONS: readonly SourceOption[] = SOURCE_VALUES;

/**
 * Defaults a healthy production server never trips (the thresholds and their reasons are in
 * `thresholds.ts`, the rules and defaults of every option in `option-schema.ts`); polling every
 * 5 s costs one small filtered `ss` run and puts a leak on record within a poll of its threshold.
 */
export const DEFAULT_OPTIONS: ResolvedOptions = Object.freeze({
  ...OPTION_DEFAULTS.instrument,
  log: undefined,
  tracerProvider: undefined,
  meterProvider: undefined,
});

/** The options that also come from the environment: each one's rule is in the option schema. */
const ENV_OPTIONS = [
  'pollIntervalMs',
  'closeWaitThresholdMs',
  'timeWaitThreshold',
  'synReceivedThreshold',
  'source',
  'spans',
  'slowHandshakeMs',
  'requireParentSpan',
  'log',
  'captureStacks',
  'autoInstrument',
  'redactPeerAddresses',
  'redactUrlPaths',
  'followRequests',
] as const satisfies readonly (keyof typeof OPTION_RULES & keyof SocklifeOptions)[];

type EnvOption = (typeof ENV_OPTIONS)[number];

function ruleOf(name: EnvOption): OptionRule {
  return OPTION_RULES[name];
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
    const rule = ruleOf(name);
    if (!isAllowed(rule, value)) {
      throw new TypeError(`socklife: option ${name} must be ${allowedText(rule)}; got ${describe(value)}`);
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
    const rule = ruleOf(name);
    const value = parseEnvValue(rule, raw.trim());
    if (value === undefined || !isAllowed(rule, value)) {
      warn(
        `socklife: environment variable ${variable}=${JSON.stringify(raw)} is not ${allowedText(rule)}; ` +
          `using the default ${describe(DEFAULT_OPTIONS[name])}`,
      );
      continue;
    }
    options[name] = value;
  }
  return options as SocklifeOptions;
}

function parseEnvValue(rule: OptionRule, raw: string): unknown {
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
    case 'fraction':
      return /^(\d+(\.\d*)?|\.\d+)$/.test(raw) ? Number(raw) : undefined;
  }
}

function emitWarning(message: string): void {
  process.emitWarning(message, { code: 'SOCKLIFE_INVALID_ENV' });
}
