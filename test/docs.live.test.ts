import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installedVersion, packedProject, ROOT, type PackedProject } from './support/packed-project.js';
import { markedBlocks, parseCommands, ReadmeMarkerError, type MarkedBlock } from './docs/readme-blocks.js';
import { runProcess, startCollector, type RunResult } from './docs/run-process.js';
import { missingTool, skipWithReason } from './support/requirements.js';

/**
 * The README's marked blocks (see test/docs/readme-blocks.ts for the markers), run in order
 * against the package as a user gets it: packed from a clean copy and installed into an
 * empty project, with examples/ copied beside it. What the README shows is what ships.
 */
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
let blocks: MarkedBlock[] = [];
let markerError: unknown;
try {
  blocks = markedBlocks(README);
} catch (error) {
  markerError = error;
}

/** What the README's commands and code may use, at the versions this checkout tests with. */
const DEPENDENCIES = [
  '@opentelemetry/api',
  '@opentelemetry/sdk-trace-base',
  '@opentelemetry/sdk-node',
  '@opentelemetry/exporter-trace-otlp-http',
  '@opentelemetry/instrumentation',
].map((name) => `${name}@${installedVersion(name)}`);

const OTLP_PORT = 4318;

describe('README markers', () => {
  it('are well formed, and there is at least one marked block to run', () => {
    if (markerError !== undefined) throw markerError;
    expect(blocks.length, 'README.md has no <!-- docs-test: ... --> block: the docs test would test nothing').toBeGreaterThan(0);
    for (const block of blocks.filter((b) => b.kind === 'command')) {
      expect(() => parseCommands(block.content, `README.md:${block.line}`)).not.toThrow();
    }
  });

  it('are read as documented (the parser, on fixed text)', () => {
    const text = [
      '# T',
      '<!-- docs-test: run expect="a b" expect=\'"q"\' timeout=5 -->',
      '```js',
      'console.log(1)',
      '```',
      '```sh',
      '<!-- docs-test: inside a block is not a marker -->',
      '```',
      '<!-- docs-test: command stub="app.js app.mjs" -->',
      '',
      '```sh',
      'X=1 node --require socklife/register app.js   # a comment',
      'node -e \'console.log("#")\' \\',
      '  two',
      '```',
    ].join('\n');
    const [run, command] = markedBlocks(text);
    expect(run).toMatchObject({ kind: 'run', line: 2, heading: 'T', expect: ['a b', '"q"'], timeoutSeconds: 5, content: 'console.log(1)\n' });
    expect(command).toMatchObject({ kind: 'command', stubs: ['app.js', 'app.mjs'] });
    expect(parseCommands(command?.content ?? '', 'x')).toEqual([
      { text: 'X=1 node --require socklife/register app.js', env: { X: '1' }, argv: ['node', '--require', 'socklife/register', 'app.js'] },
      { text: 'node -e \'console.log("#")\' two', env: {}, argv: ['node', '-e', 'console.log("#")', 'two'] },
    ]);
    expect(markedBlocks('<!-- docs-test: file=lib.js -->\n```js\nmodule.exports = 1;\n```')).toMatchObject([
      { kind: 'file', file: 'lib.js', content: 'module.exports = 1;\n' },
    ]);
    expect(markedBlocks('Prose may name `<!-- docs-test: run -->` in a sentence.')).toEqual([]);
    expect(() => markedBlocks('<!-- docs-test run -->\n```js\n```')).toThrow(ReadmeMarkerError);
    expect(() => markedBlocks('<!-- docs-test: rnu -->\n```js\n```')).toThrow(/unknown docs-test kind/);
    expect(() => markedBlocks('<!-- docs-test: run -->\ntext\n```js\n```')).toThrow(/right before a fenced code block/);
    expect(() => markedBlocks('<!-- docs-test: run expct="x" -->\n```js\n```')).toThrow(/no attribute expct/);
    expect(() => markedBlocks('<!-- docs-test: command -->\n```js\n```')).toThrow(/must be one of sh/);
    expect(() => parseCommands('npm ci && npm test', 'x')).toThrow(/needs a shell/);
    expect(() => parseCommands('ss -tan | wc -l', 'x')).toThrow(/needs a shell/);
    expect(() => parseCommands('echo $HOME', 'x')).toThrow(/needs a shell/);
  });

  it('name a package.json script for each `npm run`, and the demo script runs the demo example', () => {
    const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    for (const [, name] of README.matchAll(/npm run ([\w:-]+)/g)) expect(Object.keys(scripts), `npm run ${name}`).toContain(name);
    // The Examples section runs `node examples/demo.mjs` and says that `npm run demo` builds, then runs it.
    expect(README).toContain('`npm run demo` builds, then runs:');
    expect(scripts.demo).toBe('npm run build && node examples/demo.mjs');
  });

  it('name every file in examples/', () => {
    for (const file of readdirSync(join(ROOT, 'examples'))) expect(README, `examples/${file}`).toContain(`examples/${file}`);
  });
});

const skip = skipWithReason(missingTool('ss'));

describe.skipIf(skip || markerError !== undefined || blocks.length === 0)('README blocks, run against the packed package', () => {
  let project: PackedProject | undefined;
  let dir = '';

  beforeAll(async () => {
    project = await packedProject(DEPENDENCIES);
    dir = project.dir;
    // The examples as a user copies them beside an installed socklife (they import it by name).
    cpSync(join(ROOT, 'examples'), join(dir, 'examples'), { recursive: true });
  }, 240_000);

  afterAll(() => project?.remove());

  /** The environment of a block: this one, without settings of socklife or OpenTelemetry that would change what it does. */
  function baseEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(process.env)) {
      if (name.startsWith('SOCKLIFE_') || name.startsWith('OTEL_') || name === 'NODE_OPTIONS') continue;
      env[name] = value;
    }
    env.PATH = [join(dir, 'node_modules', '.bin'), process.env.PATH ?? ''].join(delimiter);
    return env;
  }

  function describeRun(what: string, result: RunResult): string {
    const how = result.timedOut ? 'timed out' : result.signal !== null ? `ended by ${result.signal}` : `exited with ${result.exitCode}`;
    return `${what} ${how}${result.leftChildren ? ', leaving processes behind' : ''}; its output:\n${result.output}`;
  }

  function checkExpectations(block: MarkedBlock, output: string): void {
    for (const text of block.expect) expect(output.includes(text), `expected ${JSON.stringify(text)} in the output:\n${output}`).toBe(true);
  }

  async function run(block: MarkedBlock): Promise<void> {
    const where = `README.md:${block.line}`;
    const timeoutMs = block.timeoutSeconds * 1000;
    if (block.kind === 'file') {
      writeFileSync(join(dir, block.file ?? ''), block.content);
      return;
    }
    if (block.kind === 'run') {
      const file = block.file ?? `docs-block-${block.line}.${/^import\s/m.test(block.content) ? 'mjs' : 'cjs'}`;
      writeFileSync(join(dir, file), block.content);
      const result = await runProcess([process.execPath, file], { cwd: dir, env: baseEnv(), timeoutMs, until: block.until });
      if (block.until !== undefined) {
        expect(result.untilSeen, describeRun(`${where}: node ${file} never printed ${JSON.stringify(block.until)}; it`, result)).toBe(true);
      } else {
        expect(!result.timedOut && result.signal === null && result.exitCode === block.exitCode, describeRun(`${where}: node ${file}`, result)).toBe(true);
      }
      expect(result.leftChildren, describeRun(`${where}: node ${file}`, result)).toBe(false);
      checkExpectations(block, result.output);
      return;
    }
    for (const stub of block.stubs) {
      const source = readFileSync(join(__dirname, 'docs', 'stubs', stub.endsWith('.mjs') ? 'app.mjs' : 'app.cjs'), 'utf8');
      writeFileSync(join(dir, stub), source);
    }
    const collector = block.collectorSpan === undefined ? undefined : await startCollector(OTLP_PORT);
    try {
      let output = '';
      for (const command of parseCommands(block.content, where)) {
        const [program = '', ...args] = command.argv;
        const argv = [program === 'node' ? process.execPath : program, ...args];
        const result = await runProcess(argv, { cwd: dir, env: { ...baseEnv(), ...command.env }, timeoutMs });
        const ok = !result.timedOut && result.signal === null && result.exitCode === block.exitCode && !result.leftChildren;
        expect(ok, describeRun(`${where}: \`${command.text}\``, result)).toBe(true);
        output += result.output;
      }
      checkExpectations(block, output);
      if (collector !== undefined) {
        expect(collector.spanNames, `${where}: spans the collector on localhost:${OTLP_PORT} received`).toContain(block.collectorSpan);
      }
    } finally {
      await collector?.close();
    }
  }

  for (const block of blocks) {
    const commands = block.kind === 'command' ? Math.max(1, block.content.split('\n').filter((l) => l.trim() !== '').length) : 1;
    const first = block.content.trim().split('\n')[0] ?? '';
    const name = `README.md:${block.line} (${block.heading}): ${block.kind} ${first.length > 72 ? `${first.slice(0, 71)}…` : first}`;
    it(name, () => run(block), commands * block.timeoutSeconds * 1000 + 10_000);
  }
});
