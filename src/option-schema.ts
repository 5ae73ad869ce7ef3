import { CONTINUOUS_THRESHOLDS, SNAPSHOT_THRESHOLDS } from './thresholds.js';

/**
 * The one table of option rules: what each option of `instrument()` (and its environment
 * variable) and each flag of the CLI allows, in what unit, and its default. The front ends
 * (config.ts, cli/args.ts) validate against these rules and word their own messages, so no
 * range is written twice. A leaf: it imports only the thresholds.
 */

/** An integer in [min, max]. `unit` is what it counts (`milliseconds`, `sockets`); absent for an identifier (a pid, a port). */
export interface IntegerRule {
  readonly kind: 'integer';
  readonly min: number;
  readonly max: number;
  readonly unit?: string;
}
/** A number greater than 0 and at most 1. */
export interface FractionRule {
  readonly kind: 'fraction';
}
export interface EnumRule {
  readonly kind: 'enum';
  readonly values: readonly string[];
}
export interface BooleanRule {
  readonly kind: 'boolean';
}
/** `'stderr'`, or a file path. */
export interface LogTargetRule {
  readonly kind: 'log-target';
}
export type OptionRule = IntegerRule | FractionRule | EnumRule | BooleanRule | LogTargetRule;

/** PID_MAX_LIMIT on 64-bit Linux: /proc/sys/kernel/pid_max can be raised up to this, not further. */
export const MAX_PID = 4_194_304;
/** A week: longer than any connection is worth watching one state for. */
const MAX_AGE_MS = 7 * 86_400_000;
/** An hour: longer between two looks is no longer watching. */
const MAX_INTERVAL_MS = 3_600_000;
/** Far beyond the sockets one namespace can hold (its port space times its addresses). */
const MAX_SOCKETS = 10_000_000;

/** Kernel sources `source` allows. */
export const SOURCE_VALUES = ['auto', 'ss', 'proc', 'netstat', 'none'] as const;
/** Span policies `spans` allows. */
export const SPAN_POLICY_VALUES = ['findings', 'anomalies', 'all'] as const;

/** The rules, by option name; each CLI flag and each `instrument()` option points at one. */
export const OPTION_RULES = {
  pollIntervalMs: { kind: 'integer', min: 10, max: MAX_INTERVAL_MS, unit: 'milliseconds' },
  closeWaitThresholdMs: { kind: 'integer', min: 0, max: MAX_AGE_MS, unit: 'milliseconds' },
  finWaitThresholdMs: { kind: 'integer', min: 0, max: MAX_AGE_MS, unit: 'milliseconds' },
  timeWaitThreshold: { kind: 'integer', min: 1, max: MAX_SOCKETS, unit: 'sockets' },
  synReceivedThreshold: { kind: 'integer', min: 1, max: MAX_SOCKETS, unit: 'sockets' },
  listenQueueThreshold: { kind: 'fraction' },
  source: { kind: 'enum', values: SOURCE_VALUES },
  spans: { kind: 'enum', values: SPAN_POLICY_VALUES },
  slowHandshakeMs: { kind: 'integer', min: 0, max: MAX_INTERVAL_MS, unit: 'milliseconds' },
  requireParentSpan: { kind: 'boolean' },
  log: { kind: 'log-target' },
  captureStacks: { kind: 'boolean' },
  autoInstrument: { kind: 'boolean' },
  redactPeerAddresses: { kind: 'boolean' },
  redactUrlPaths: { kind: 'boolean' },
  followRequests: { kind: 'boolean' },
  pid: { kind: 'integer', min: 1, max: MAX_PID },
  port: { kind: 'integer', min: 1, max: 65535 },
  intervalMs: { kind: 'integer', min: 100, max: MAX_INTERVAL_MS, unit: 'milliseconds' },
  count: { kind: 'integer', min: 1, max: 1_000_000 },
} as const satisfies Record<string, OptionRule>;

export type OptionName = keyof typeof OPTION_RULES;

/** Defaults of `instrument()` (continuous) and of the CLI (snapshot), by option name. */
export const OPTION_DEFAULTS = Object.freeze({
  instrument: {
    pollIntervalMs: 5000,
    closeWaitThresholdMs: CONTINUOUS_THRESHOLDS.closeWaitMs,
    timeWaitThreshold: CONTINUOUS_THRESHOLDS.timeWait,
    synReceivedThreshold: CONTINUOUS_THRESHOLDS.synReceived,
    source: 'auto',
    spans: 'anomalies',
    slowHandshakeMs: CONTINUOUS_THRESHOLDS.slowHandshakeMs,
    requireParentSpan: false,
    captureStacks: true,
    autoInstrument: true,
    redactPeerAddresses: false,
    redactUrlPaths: false,
    followRequests: true,
  },
  cli: {
    closeWaitThresholdMs: SNAPSHOT_THRESHOLDS.closeWaitMs,
    finWaitThresholdMs: SNAPSHOT_THRESHOLDS.finWaitMs,
    timeWaitThreshold: SNAPSHOT_THRESHOLDS.timeWait,
    listenQueueThreshold: SNAPSHOT_THRESHOLDS.listenQueue,
    intervalMs: 2000,
  },
} as const);

/** True when `value` (already a JS value) is allowed by the rule. */
export function isAllowed(rule: OptionRule, value: unknown): boolean {
  switch (rule.kind) {
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value) && value >= rule.min && value <= rule.max;
    case 'fraction':
      return typeof value === 'number' && value > 0 && value <= 1;
    case 'enum':
      return typeof value === 'string' && rule.values.includes(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'log-target':
      return typeof value === 'string' && value.trim() !== '' && !value.includes('\0');
  }
}

/**
 * What a rule allows, in words. `showUnit` decides whether an integer's unit is said: the
 * front ends word it their own way (the CLI says a unit only where its flag names one).
 */
export function allowedText(rule: OptionRule, showUnit: boolean = true): string {
  switch (rule.kind) {
    case 'integer':
      return `an integer from ${rule.min} to ${rule.max}${showUnit && rule.unit !== undefined ? ` (${rule.unit})` : ''}`;
    case 'fraction':
      return 'a number greater than 0 and at most 1 (e.g. 0.9)';
    case 'enum':
      return `one of ${rule.values.map((v) => `'${v}'`).join(', ')}`;
    case 'boolean':
      return 'true or false';
    case 'log-target':
      return "'stderr' or the path of a file";
  }
}
