import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS, envVariableName, instrument, optionsFromEnv } from '../src/index.js';

describe('options in code', () => {
  it.each([
    [{ pollIntervalMs: -5 }, /option pollIntervalMs must be an integer from 10 to 3600000 \(milliseconds\); got -5/],
    [{ pollIntervalMs: 1.5 }, /option pollIntervalMs .* got 1\.5/],
    [{ closeWaitThresholdMs: '60000' }, /option closeWaitThresholdMs must be an integer .*; got "60000"/],
    [{ source: 'lsof' }, /option source must be one of 'auto', 'ss', 'proc', 'netstat', 'none'; got "lsof"/],
    [{ captureStacks: 'yes' }, /option captureStacks must be true or false; got "yes"/],
    [{ tracerProvider: {} }, /option tracerProvider must be an object with a getTracer\(\) method/],
    [{ pollIntervallMs: 100 }, /unknown option pollIntervallMs; known options are pollIntervalMs, /],
  ])('rejects %j with a TypeError naming the option, the value and what is allowed', (options, message) => {
    expect(() => instrument(options as never)).toThrowError(TypeError);
    expect(() => instrument(options as never)).toThrowError(message);
  });

  it('starts with defaults and reports them on the handle', () => {
    const handle = instrument({ source: 'none' });
    try {
      expect(handle.options).toMatchObject({ ...DEFAULT_OPTIONS, source: 'none' });
      expect(handle.source).toBe('none');
      // A second call gets the running instrumentation instead of doubling every span.
      expect(instrument().options).toBe(handle.options);
    } finally {
      handle.stop();
    }
  });
});

describe('options from the environment', () => {
  it('maps option names to SOCKLIFE_ variables', () => {
    expect(envVariableName('pollIntervalMs')).toBe('SOCKLIFE_POLL_INTERVAL_MS');
    expect(envVariableName('closeWaitThresholdMs')).toBe('SOCKLIFE_CLOSE_WAIT_THRESHOLD_MS');
  });

  it('reads valid values', () => {
    const warnings: string[] = [];
    const options = optionsFromEnv(
      {
        SOCKLIFE_POLL_INTERVAL_MS: '250',
        SOCKLIFE_CLOSE_WAIT_THRESHOLD_MS: '0',
        SOCKLIFE_SOURCE: 'PROC',
        SOCKLIFE_CAPTURE_STACKS: 'false',
        SOCKLIFE_AUTO_INSTRUMENT: '1',
        SOCKLIFE_REDACT_URL_PATHS: 'true',
        SOCKLIFE_FOLLOW_REQUESTS: 'false',
      },
      (m) => warnings.push(m),
    );
    expect(options).toEqual({
      pollIntervalMs: 250,
      closeWaitThresholdMs: 0,
      source: 'proc',
      captureStacks: false,
      autoInstrument: true,
      redactUrlPaths: true,
      followRequests: false,
    });
    expect(warnings).toEqual([]);
  });

  it('warns once per bad variable, naming it, and falls back to the default', () => {
    const warnings: string[] = [];
    const options = optionsFromEnv({ SOCKLIFE_POLL_INTERVAL_MS: '5s', SOCKLIFE_SOURCE: 'lsof', SOCKLIFE_CLOSE_WAIT_THRESHOLD_MS: '30000' }, (m) =>
      warnings.push(m),
    );
    expect(options).toEqual({ closeWaitThresholdMs: 30000 });
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toBe(
      'socklife: environment variable SOCKLIFE_POLL_INTERVAL_MS="5s" is not an integer from 10 to 3600000 (milliseconds); using the default 5000',
    );
    expect(warnings[1]).toMatch(/SOCKLIFE_SOURCE="lsof" is not one of 'auto', .*; using the default "auto"/);
  });
});
