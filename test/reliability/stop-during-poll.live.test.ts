import { afterEach, describe, expect, it } from 'vitest';
import { instrument } from '../../src/index.js';
import { missingTool, skipWithReason } from '../support/requirements.js';
import { waitFor } from '../support/telemetry.js';
import { childProcesses, echoRoundTrip, FakeTools, processesInGroup } from './support.js';

// In a file of its own: it compares the process's active resources before start and after
// stop(), which other tests' sockets and servers would blur.

const skip = skipWithReason(missingTool('ss'));

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

describe.skipIf(skip)('stop() during a poll', () => {
  it('returns at once while ss hangs, and leaves no child process, timer or listener behind', async () => {
    const tools = new FakeTools();
    cleanups.push(() => tools.dispose());
    tools.write('ss', 'sleep 600');
    tools.usePath();
    const before = process.getActiveResourcesInfo();
    const exitListeners = process.listenerCount('exit');
    const handle = instrument({ source: 'ss', pollIntervalMs: 100 });
    cleanups.push(() => handle.stop());
    const run = await waitFor(() => tools.runs()[0], 5000, 'the poll to start ss');
    expect(processesInGroup(run.pid).length).toBeGreaterThan(0);
    const started = performance.now();
    handle.stop();
    expect(performance.now() - started).toBeLessThan(100);
    await waitFor(() => (processesInGroup(run.pid).length === 0 ? true : undefined), 3000, 'the hanging ss and its child to be gone');
    await waitFor(() => (childProcesses().length === 0 ? true : undefined), 3000, 'no child process');
    // No timer, pipe or process handle more than before start (some of the test runner's may have gone meanwhile).
    const added = (): string[] => {
      const left = [...before];
      return process.getActiveResourcesInfo().filter((kind) => {
        const i = left.indexOf(kind);
        if (i === -1) return true;
        left.splice(i, 1);
        return false;
      });
    };
    await waitFor(() => (added().length === 0 ? true : undefined), 3000, 'no resource added since start').catch((error: Error) => {
      throw new Error(`${error.message}: added ${JSON.stringify(added())}`);
    });
    expect(process.listenerCount('exit')).toBe(exitListeners);
    expect(tools.runs()).toHaveLength(1);
    expect(await echoRoundTrip()).toBe('ping');
  });
});
