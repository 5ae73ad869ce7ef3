import { execa } from 'execa';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(__dirname, '..');

describe('the published package', () => {
  it('ships JavaScript and type declarations for both module systems', async () => {
    const { stdout } = await execa('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT });
    const files = (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]?.files.map((f) => f.path) ?? [];
    for (const file of [
      'dist/cjs/index.js',
      'dist/cjs/index.d.ts',
      'dist/cjs/register.js',
      'dist/esm/index.js',
      'dist/esm/index.d.ts',
      'dist/esm/register.js',
      'README.md',
      'package.json',
    ]) {
      expect(files).toContain(file);
    }
    expect(files.some((f) => f.startsWith('src/') || f.startsWith('test/'))).toBe(false);
  });

  it('loads with require and with import, exporting the same API', async () => {
    const script = `
      const cjs = require('socklife');
      import('socklife').then((esm) => {
        const names = (m) => Object.keys(m).filter((k) => k !== 'default' && k !== 'module.exports').sort().join(',');
        console.log(JSON.stringify({ cjs: names(cjs), esm: names(esm), instrument: typeof esm.instrument }));
      });`;
    const { stdout } = await execa(process.execPath, ['-e', script], { cwd: ROOT });
    const result = JSON.parse(stdout) as { cjs: string; esm: string; instrument: string };
    expect(result.cjs).toBe(result.esm);
    expect(result.cjs).toContain('instrumentServer');
    expect(result.instrument).toBe('function');
  });

  it('declares Node >= 20.19 and a peer range of the OpenTelemetry API that current SDKs accept', async () => {
    const pkg = (await import('../package.json', { with: { type: 'json' } })).default as {
      engines: { node: string };
      peerDependencies: Record<string, string>;
      version: string;
    };
    expect(pkg.engines.node).toBe('>=20.19.0');
    expect(pkg.peerDependencies['@opentelemetry/api']).toBe('^1.3.0');
    const { VERSION } = await import('../src/version.js');
    expect(VERSION).toBe(pkg.version);
  });
});
