import { execa } from 'execa';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { missingTool, skipWithReason } from './support/requirements.js';

const ROOT = join(__dirname, '..');

describe.skipIf(skipWithReason(missingTool('ss')))('npm run demo', () => {
  it('finds both CLOSE_WAIT bugs of the example server, names the code, and exits 0', async () => {
    const result = await execa(process.execPath, ['examples/demo.mjs'], { cwd: ROOT, reject: false, timeout: 30_000 });
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    const out = result.stdout;
    expect(out).toMatch(/CLOSE_WAIT LEAK #1/);
    expect(out).toMatch(/CLOSE_WAIT LEAK #2/);
    expect(out).toMatch(/cause: end_not_called/);
    expect(out).toMatch(/cause: not_read_to_eof/);
    expect(out).toMatch(/socket made by: startUploadServer \(examples\/upload-server\.mjs:\d+\)/);
    // Each leak names the request its connection carried, and the handler that got it.
    expect(out).toMatch(/request: POST \/uploads\/web \(request 1 on this connection\)/);
    expect(out).toMatch(/request: POST \/uploads\/batch \(request 1 on this connection\)/);
    expect(out).toMatch(/handled by: handleUpload/);
    expect(out).toMatch(/\[client\] good upload \(web, 10 KiB\): stored 10240 bytes/);
    expect(out).toMatch(/socklife found 2 CLOSE_WAIT leaks/);
  });
});
