import { execa } from 'execa';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installedVersion, installPacked, packClean, type Packed } from './support/packed-project.js';

/**
 * A user's view of the package: a clean copy of the repository (the files git would commit,
 * no dist/) is packed with plain `npm pack`, and the tarball is installed into an empty project
 * beside only the OpenTelemetry API and trace SDK.
 */
describe('the packed package, installed into an empty project', () => {
  let packed: Packed;
  let project: string;
  /** A project with socklife alone (npm adds its peer, the API): no SDK installed at all. */
  let bare: string;
  let tarballFiles: readonly string[];

  beforeAll(async () => {
    packed = await packClean();
    tarballFiles = packed.files;
    project = await installPacked(packed, 'app', [
      `@opentelemetry/api@${installedVersion('@opentelemetry/api')}`,
      `@opentelemetry/sdk-trace-base@${installedVersion('@opentelemetry/sdk-trace-base')}`,
    ]);
    bare = await installPacked(packed, 'bare', []);
  }, 180_000);

  afterAll(() => {
    packed?.remove();
  });

  it('ships built code and type declarations for both module systems, and no sources or tests', () => {
    for (const file of [
      'dist/cjs/index.js',
      'dist/cjs/index.d.ts',
      'dist/cjs/register.js',
      'dist/cjs/register.d.ts',
      'dist/cjs/package.json',
      'dist/esm/index.js',
      'dist/esm/index.d.ts',
      'dist/esm/register.js',
      'dist/esm/register.d.ts',
      'dist/esm/package.json',
      'README.md',
      'docs/findings.md',
      'docs/cli.md',
      'package.json',
    ]) {
      expect(tarballFiles).toContain(file);
    }
    // The README links into docs/: the reference ships with it, so the links resolve in node_modules.
    expect(
      tarballFiles.filter((f) => !f.startsWith('dist/') && !/^docs\/[a-z-]+\.md$/.test(f) && f !== 'README.md' && f !== 'package.json' && f !== 'LICENSE'),
    ).toEqual([]);
    expect(tarballFiles.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('loads with require and with import, exporting the same API', async () => {
    const script = `
      const cjs = require('socklife');
      import('socklife').then((esm) => {
        const names = (m) => Object.keys(m).filter((k) => k !== 'default' && k !== 'module.exports').sort().join(',');
        console.log(JSON.stringify({ cjs: names(cjs), esm: names(esm), instrument: typeof esm.instrument }));
      });`;
    const { stdout } = await execa(process.execPath, ['-e', script], { cwd: project });
    const result = JSON.parse(stdout) as { cjs: string; esm: string; instrument: string };
    expect(result.cjs).toBe(result.esm);
    expect(result.cjs).toContain('instrumentServer');
    expect(result.instrument).toBe('function');
  });

  // A server that never ends the sockets its peer closed: the drop-in must report the leak.
  const leakingApp = `
    const { trace } = require('@opentelemetry/api');
    const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
    const net = require('node:net');
    const exporter = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    const server = net.createServer({ allowHalfOpen: true }, () => {}).listen(0, '127.0.0.1', () => {
      net.connect(server.address().port, '127.0.0.1', function () { this.end(); });
    });
    const poll = setInterval(() => {
      const leak = exporter.getFinishedSpans().find((s) => s.name === 'tcp.close_wait.leak');
      if (leak) { console.log(JSON.stringify(leak.attributes)); process.exit(0); }
    }, 20);
    setTimeout(() => { console.log('no leak reported'); process.exit(1); }, 10000).unref();
  `;

  for (const flag of ['--require', '--import']) {
    it(`reports a CLOSE_WAIT leak under node ${flag} socklife/register`, async () => {
      const file = join(project, 'leaking-app.cjs');
      writeFileSync(file, leakingApp);
      const { stdout } = await execa(process.execPath, [flag, 'socklife/register', file], {
        cwd: project,
        env: { SOCKLIFE_CLOSE_WAIT_THRESHOLD_MS: '0', SOCKLIFE_POLL_INTERVAL_MS: '50' },
        reject: false,
        timeout: 20_000,
      });
      const attributes = JSON.parse(stdout) as Record<string, unknown>;
      expect(attributes['tcp.close_wait.cause']).toBe('end_not_called');
      expect(attributes['tcp.connection.side']).toBe('server');
    });
  }

  it('installs the socklife command, which runs', async () => {
    expect(tarballFiles).toContain('dist/cjs/cli/main.js');
    const { stdout, exitCode } = await execa(join(bare, 'node_modules', '.bin', 'socklife'), ['--help'], { cwd: bare, reject: false });
    expect(exitCode).toBe(0);
    expect(stdout).toMatch(/doctor/);
    expect(stdout).toMatch(/states/);
  });

  const leakingAppNoSdk = `
    const net = require('node:net');
    const server = net.createServer({ allowHalfOpen: true }, () => {}).listen(0, '127.0.0.1', () => {
      net.connect(server.address().port, '127.0.0.1', function () { this.end(); });
    });
    setTimeout(() => process.exit(0), 1500);
  `;

  for (const flag of ['--require', '--import']) {
    it(`with no SDK installed, writes findings as JSON lines under node ${flag} socklife/register and SOCKLIFE_LOG=stderr`, async () => {
      expect(existsSync(join(bare, 'node_modules', '@opentelemetry', 'sdk-trace-base'))).toBe(false);
      const file = join(bare, 'leaking-app.cjs');
      writeFileSync(file, leakingAppNoSdk);
      const { stderr } = await execa(process.execPath, [flag, 'socklife/register', file], {
        cwd: bare,
        env: { SOCKLIFE_CLOSE_WAIT_THRESHOLD_MS: '0', SOCKLIFE_POLL_INTERVAL_MS: '50', SOCKLIFE_LOG: 'stderr' },
        timeout: 20_000,
      });
      const [line] = stderr.split('\n').filter((l) => l.startsWith('{'));
      expect(JSON.parse(line ?? '{}')).toMatchObject({ type: 'close_wait_leak', cause: 'end_not_called', side: 'server' });
    });
  }
});

describe('package.json', () => {
  it('declares Node >= 20.19, a peer range of the OpenTelemetry API that current SDKs accept, and builds before packing', async () => {
    const pkg = (await import('../package.json', { with: { type: 'json' } })).default as {
      engines: { node: string };
      peerDependencies: Record<string, string>;
      scripts: Record<string, string>;
      version: string;
    };
    expect(pkg.engines.node).toBe('>=20.19.0');
    expect(pkg.peerDependencies['@opentelemetry/api']).toBe('^1.3.0');
    expect(pkg.scripts.prepack).toBe('npm run build');
    const { VERSION } = await import('../src/version.js');
    expect(VERSION).toBe(pkg.version);
  });
});
