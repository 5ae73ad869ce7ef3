import { describe, expect, it } from 'vitest';
import { COMMAND_OPTIONS, COMMANDS, DEFAULT_THRESHOLDS, parseCommandLine, UsageError } from '../../src/cli/args.js';
import { commandHelp, TOP_LEVEL_HELP } from '../../src/cli/help.js';

function usageError(argv: string[]): string {
  try {
    parseCommandLine(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`no error for ${argv.join(' ')}`);
}

describe('parseCommandLine', () => {
  it('reads doctor with its defaults', () => {
    expect(parseCommandLine(['doctor', '--pid', '42'])).toEqual({
      kind: 'doctor',
      target: { pid: 42, port: undefined },
      json: false,
      thresholds: DEFAULT_THRESHOLDS,
    });
  });

  it('reads every doctor option, --opt=value too', () => {
    const parsed = parseCommandLine([
      'doctor',
      '--port=8080',
      '--json',
      '--close-wait-threshold-ms',
      '0',
      '--fin-wait-threshold-ms',
      '250',
      '--time-wait-threshold',
      '5',
      '--listen-queue-threshold',
      '.5',
    ]);
    expect(parsed).toEqual({
      kind: 'doctor',
      target: { pid: undefined, port: 8080 },
      json: true,
      thresholds: { closeWaitMs: 0, finWaitMs: 250, timeWait: 5, listenQueue: 0.5 },
    });
  });

  it('reads states and watch, with or without a target', () => {
    expect(parseCommandLine(['states'])).toEqual({ kind: 'states', target: { pid: undefined, port: undefined }, json: false, timeWaitThreshold: 1000 });
    expect(parseCommandLine(['watch', '--pid', '7', '--port', '80', '--interval-ms', '100', '--count', '2', '--json'])).toEqual({
      kind: 'watch',
      target: { pid: 7, port: 80 },
      json: true,
      timeWaitThreshold: 1000,
      intervalMs: 100,
      count: 2,
    });
    expect(parseCommandLine(['watch'])).toMatchObject({ intervalMs: 2000, count: undefined });
  });

  it('answers help and version', () => {
    expect(parseCommandLine(['--help'])).toEqual({ kind: 'help' });
    expect(parseCommandLine(['-h'])).toEqual({ kind: 'help' });
    expect(parseCommandLine(['help', 'watch'])).toEqual({ kind: 'help', command: 'watch' });
    expect(parseCommandLine(['doctor', '--help'])).toEqual({ kind: 'help', command: 'doctor' });
    expect(parseCommandLine(['states', '-h', '--pid', 'not-checked'])).toEqual({ kind: 'help', command: 'states' });
    expect(parseCommandLine(['--version'])).toEqual({ kind: 'version' });
  });

  it.each([
    [['doctor', '--pid', 'abc'], 'socklife doctor: option --pid must be an integer from 1 to 4194304; got "abc"'],
    [['doctor', '--pid', '0'], 'socklife doctor: option --pid must be an integer from 1 to 4194304; got "0"'],
    [['doctor', '--pid', '1e3'], 'socklife doctor: option --pid must be an integer from 1 to 4194304; got "1e3"'],
    [['doctor', '--pid=-5'], 'socklife doctor: option --pid must be an integer from 1 to 4194304; got "-5"'],
    [['doctor', '--pid', '4194305'], 'socklife doctor: option --pid must be an integer from 1 to 4194304; got "4194305"'],
    [['states', '--port', '65536'], 'socklife states: option --port must be an integer from 1 to 65535; got "65536"'],
    [['states', '--port', ' 80'], 'socklife states: option --port must be an integer from 1 to 65535; got " 80"'],
    [
      ['doctor', '--pid', '1', '--close-wait-threshold-ms', '1.5'],
      'socklife doctor: option --close-wait-threshold-ms must be an integer from 0 to 604800000 (milliseconds); got "1.5"',
    ],
    [['doctor', '--pid', '1', '--time-wait-threshold', '0'], 'socklife doctor: option --time-wait-threshold must be an integer from 1 to 10000000; got "0"'],
    [
      ['doctor', '--pid', '1', '--listen-queue-threshold', '0'],
      'socklife doctor: option --listen-queue-threshold must be a number greater than 0 and at most 1 (e.g. 0.9); got "0"',
    ],
    [
      ['doctor', '--pid', '1', '--listen-queue-threshold', '1.01'],
      'socklife doctor: option --listen-queue-threshold must be a number greater than 0 and at most 1 (e.g. 0.9); got "1.01"',
    ],
    [
      ['doctor', '--pid', '1', '--listen-queue-threshold', '90%'],
      'socklife doctor: option --listen-queue-threshold must be a number greater than 0 and at most 1 (e.g. 0.9); got "90%"',
    ],
    [['watch', '--interval-ms', '99'], 'socklife watch: option --interval-ms must be an integer from 100 to 3600000 (milliseconds); got "99"'],
    [['watch', '--count', '0'], 'socklife watch: option --count must be an integer from 1 to 1000000; got "0"'],
  ])('rejects %j naming the option, the value and what is allowed', (argv, message) => {
    expect(usageError(argv)).toBe(message);
  });

  it('rejects unknown options, missing values, values given to flags and positionals', () => {
    expect(usageError(['doctor', '--pid', '1', '--bogus'])).toBe(
      'socklife doctor: unknown option --bogus; known options are --pid, --port, --json, --close-wait-threshold-ms, ' +
        '--fin-wait-threshold-ms, --time-wait-threshold, --listen-queue-threshold, --help',
    );
    expect(usageError(['states', '--interval-ms', '100'])).toBe(
      'socklife states: unknown option --interval-ms; known options are --pid, --port, --json, --time-wait-threshold, --help',
    );
    expect(usageError(['doctor', '--pid'])).toBe(
      "socklife doctor: option --pid needs a value: an integer from 1 to 4194304 (write --pid=VALUE for a value that starts with '-')",
    );
    expect(usageError(['doctor', '--pid', '-5'])).toMatch(/^socklife doctor: option --pid needs a value/);
    expect(usageError(['states', '--json=yes'])).toBe('socklife states: option --json takes no value');
    expect(usageError(['states', '1234'])).toBe(
      'socklife states: unexpected argument "1234"; options are --pid, --port, --json, --time-wait-threshold, --help',
    );
  });

  it('rejects a missing or unknown command, and doctor without a target', () => {
    expect(usageError([])).toBe('socklife: missing command; expected one of doctor, states, watch');
    expect(usageError(['docter'])).toBe('socklife: unknown command "docter"; expected one of doctor, states, watch (or --help, --version)');
    expect(usageError(['--pid', '1'])).toBe('socklife: unknown option --pid; expected one of doctor, states, watch (or --help, --version)');
    expect(usageError(['help', 'nope'])).toBe('socklife help: unknown command "nope"; expected one of doctor, states, watch');
    expect(usageError(['doctor', '--json'])).toBe('socklife doctor: give --pid N (a process) or --port P (a port), or both');
  });
});

describe('help', () => {
  it('lists every command, the exit codes, and each command\u2019s every option with its default', () => {
    for (const command of COMMANDS) expect(TOP_LEVEL_HELP).toContain(`socklife ${command}`);
    expect(TOP_LEVEL_HELP).toMatch(/0 {2}healthy/);
    for (const command of COMMANDS) {
      const help = commandHelp(command);
      for (const option of COMMAND_OPTIONS[command]) {
        expect(help).toContain(`--${option.name}`);
        if (option.defaultValue !== undefined) expect(help).toContain(`default ${option.defaultValue}`);
      }
      expect(help).toContain('Exit codes:');
      for (const line of help.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
    }
  });
});
