import { describe, expect, it } from 'vitest';
import { COMMAND_OPTIONS, DEFAULT_THRESHOLDS, parseCommandLine } from '../src/cli/args.js';
import { DEFAULT_OPTIONS, resolveOptions } from '../src/config.js';
import { OPTION_RULES } from '../src/option-schema.js';
import { CONTINUOUS_THRESHOLDS, SNAPSHOT_THRESHOLDS } from '../src/thresholds.js';

// One table of option rules for instrument() and the CLI; thresholds defined once.

function flag(command: keyof typeof COMMAND_OPTIONS, name: string) {
  const spec = COMMAND_OPTIONS[command].find((s) => s.name === name);
  if (spec === undefined) throw new Error(`no --${name} on ${command}`);
  return spec;
}

describe('the option schema', () => {
  it('gives the CLI flag and the instrument() option that mean the same thing the same rule', () => {
    expect(flag('doctor', 'close-wait-threshold-ms').rule).toBe(OPTION_RULES.closeWaitThresholdMs);
    expect(flag('doctor', 'time-wait-threshold').rule).toBe(OPTION_RULES.timeWaitThreshold);
    expect(flag('states', 'time-wait-threshold').rule).toBe(OPTION_RULES.timeWaitThreshold);
  });

  it('so both front ends accept and refuse the same values, each in its own words', () => {
    const { max } = OPTION_RULES.closeWaitThresholdMs;
    expect(resolveOptions({ closeWaitThresholdMs: max }).closeWaitThresholdMs).toBe(max);
    expect(parseCommandLine(['doctor', '--pid', '1', '--close-wait-threshold-ms', String(max)])).toMatchObject({ thresholds: { closeWaitMs: max } });
    expect(() => resolveOptions({ closeWaitThresholdMs: max + 1 })).toThrow(
      `socklife: option closeWaitThresholdMs must be an integer from 0 to ${max} (milliseconds)`,
    );
    expect(() => parseCommandLine(['doctor', '--pid', '1', '--close-wait-threshold-ms', String(max + 1)])).toThrow(
      `socklife doctor: option --close-wait-threshold-ms must be an integer from 0 to ${max} (milliseconds)`,
    );
  });

  it('takes the defaults from the thresholds: continuous for instrument(), snapshot for the CLI', () => {
    expect(DEFAULT_OPTIONS).toMatchObject({
      closeWaitThresholdMs: CONTINUOUS_THRESHOLDS.closeWaitMs,
      timeWaitThreshold: CONTINUOUS_THRESHOLDS.timeWait,
      synReceivedThreshold: CONTINUOUS_THRESHOLDS.synReceived,
      slowHandshakeMs: CONTINUOUS_THRESHOLDS.slowHandshakeMs,
    });
    expect(DEFAULT_THRESHOLDS).toBe(SNAPSHOT_THRESHOLDS);
    expect(flag('doctor', 'close-wait-threshold-ms').defaultValue).toBe(SNAPSHOT_THRESHOLDS.closeWaitMs);
    expect(flag('doctor', 'listen-queue-threshold').defaultValue).toBe(SNAPSHOT_THRESHOLDS.listenQueue);
  });

  it('keeps the values the thresholds have always had', () => {
    expect(CONTINUOUS_THRESHOLDS).toEqual({ closeWaitMs: 60_000, timeWait: 5000, synReceived: 128, listenQueue: 0.9, slowHandshakeMs: 1000 });
    expect(SNAPSHOT_THRESHOLDS).toEqual({ closeWaitMs: 1000, finWaitMs: 5000, timeWait: 1000, listenQueue: 0.9 });
  });
});
