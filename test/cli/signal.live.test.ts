import { delimiter } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeTools, processesInGroup } from '../reliability/support.js';
import { waitFor } from '../support/telemetry.js';
import { skipWithReason } from '../support/requirements.js';
import { assertBuilt, CLI } from './support.js';

// socklife doctor runs ss through the library's process runner, which starts it in a process
// group of its own (so that a timeout can kill what ss started too). A terminal's Ctrl-C or a
// SIGTERM sent to the command would miss that group: the command takes it along when it dies.

const skip = skipWithReason(process.platform === 'linux' ? undefined : `needs Linux (this is ${process.platform})`);

describe.skipIf(skip)('socklife doctor ended by a signal', () => {
  let tools: FakeTools | undefined;
  afterEach(() => {
    for (const run of tools?.runs() ?? []) for (const pid of processesInGroup(run.pid)) process.kill(pid, 'SIGKILL');
    tools?.dispose();
    tools = undefined;
  });

  it.each([['SIGTERM'], ['SIGINT']] as const)('dies of %s as by default, and the ss it was waiting for dies with it', async (signal) => {
    assertBuilt();
    tools = new FakeTools();
    tools.write('ss', 'sleep 600');
    const cli = execa(process.execPath, [CLI, 'doctor', '--port', '1', '--json'], {
      env: { PATH: `${tools.dir}${delimiter}${process.env.PATH ?? ''}` },
      reject: false,
      timeout: 20_000,
    });
    const fake = tools;
    const [run] = await waitFor(() => (fake.runs().length > 0 ? fake.runs() : undefined), 10_000, 'the fake ss to start');
    expect(processesInGroup(run?.pid ?? 0).length).toBeGreaterThan(0);
    cli.kill(signal);
    const result = await cli;
    expect(result.signal).toBe(signal);
    await waitFor(() => (processesInGroup(run?.pid ?? 0).length === 0 ? true : undefined), 3000, `process group ${run?.pid} to be gone`);
  });
});
