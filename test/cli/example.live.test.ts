import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { missingTool, skipWithReason } from '../support/requirements.js';
import { assertBuilt } from './support.js';

const skip = skipWithReason(process.platform === 'linux' ? missingTool('ss') : `needs Linux (this is ${process.platform})`);

describe.skipIf(skip)('examples/doctor-on-leaking-process.mjs', () => {
  it('runs socklife doctor on its leaking server, shows the 3 CLOSE_WAIT sockets, and cleans up', () => {
    assertBuilt();
    const result = spawnSync(process.execPath, [join(__dirname, '..', '..', 'examples', 'doctor-on-leaking-process.mjs')], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^\$ socklife doctor --pid \d+/m);
    expect(result.stdout).toContain('3 sockets in CLOSE_WAIT for at least 1.0 s');
    expect(result.stdout).toContain('socklife exited with 1');
  });
});
