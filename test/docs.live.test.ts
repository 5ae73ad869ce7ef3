import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join, normalize } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installedVersion, packedProject, ROOT, type PackedProject } from './support/packed-project.js';
import { anchorOf, headingAnchors, relativeLinks } from './docs/links.js';
import { markedBlocks, parseCommands, DocsMarkerError, type MarkedBlock } from './docs/marked-blocks.js';
import { runProcess, startCollector, type RunResult } from './docs/run-process.js';
import { missingTool, skipWithReason } from './support/requirements.js';

/**
 * The marked blocks (see test/docs/marked-blocks.ts for the markers) of the README,
 * ARCHITECTURE.md and every file in docs/, run in that order against the package as a user
 * gets it: packed from a clean copy and installed into an empty project, with examples/
 * copied beside it. What the docs show is what ships.
 */
const DOCUMENTS = [
  'README.md',
  'ARCHITECTURE.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`),
];
const TEXT = new Map(DOCUMENTS.map((document) => [document, readFileSync(join(ROOT, document), 'utf8')] as const));
const text = (document: string): string => TEXT.get(document) ?? '';
const README = text('README.md');

let blocks: MarkedBlock[] = [];
let markerError: unknown;
try {
  blocks = DOCUMENTS.flatMap((document) => markedBlocks(text(document), document));
} catch (error) {
  markerError = error;
}

/** What the docs' commands and code may use, at the versions this checkout tests with. */
const DEPENDENCIES = [
  '@opentelemetry/api',
  '@opentelemetry/sdk-trace-base',
  '@opentelemetry/sdk-node',
  '@opentelemetry/exporter-trace-otlp-http',
  '@opentelemetry/instrumentation',
].map((name) => `${name}@${installedVersion(name)}`);

const OTLP_PORT = 4318;

describe('docs markers', () => {
  it('cover the README, ARCHITECTURE.md and docs/', () => {
    expect(DOCUMENTS.slice(0, 2)).toEqual(['README.md', 'ARCHITECTURE.md']);
    expect(DOCUMENTS.length, 'docs/ holds no .md file').toBeGreaterThan(2);
  });

  it('are well formed, and there is at least one marked block to run', () => {
    if (markerError !== undefined) throw markerError;
    expect(
      blocks.filter((b) => b.document === 'README.md').length,
      'README.md has no <!-- docs-test: ... --> block: the docs test would test nothing',
    ).toBeGreaterThan(0);
    for (const block of blocks.filter((b) => b.kind === 'command')) {
      expect(() => parseCommands(block.content, `${block.document}:${block.line}`)).not.toThrow();
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
    const [run, command] = markedBlocks(text, 'docs/t.md');
    expect(run).toMatchObject({
      kind: 'run',
      document: 'docs/t.md',
      line: 2,
      heading: 'T',
      expect: ['a b', '"q"'],
      timeoutSeconds: 5,
      content: 'console.log(1)\n',
    });
    expect(command).toMatchObject({ kind: 'command', stubs: ['app.js', 'app.mjs'] });
    expect(parseCommands(command?.content ?? '', 'x')).toEqual([
      { text: 'X=1 node --require socklife/register app.js', env: { X: '1' }, argv: ['node', '--require', 'socklife/register', 'app.js'] },
      { text: 'node -e \'console.log("#")\' two', env: {}, argv: ['node', '-e', 'console.log("#")', 'two'] },
    ]);
    expect(markedBlocks('<!-- docs-test: file=lib.js -->\n```js\nmodule.exports = 1;\n```')).toMatchObject([
      { kind: 'file', file: 'lib.js', content: 'module.exports = 1;\n' },
    ]);
    expect(markedBlocks('Prose may name `<!-- docs-test: run -->` in a sentence.')).toEqual([]);
    expect(() => markedBlocks('<!-- docs-test run -->\n```js\n```')).toThrow(DocsMarkerError);
    expect(() => markedBlocks('x\n<!-- docs-test: rnu -->\n```js\n```', 'docs/cli.md')).toThrow(/^docs\/cli\.md:2: unknown docs-test kind/);
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
    for (const document of DOCUMENTS) {
      for (const [, name] of text(document).matchAll(/npm run ([\w:-]+)/g)) expect(Object.keys(scripts), `${document}: npm run ${name}`).toContain(name);
    }
    // The Examples section runs `node examples/demo.mjs` and says that `npm run demo` builds, then runs it.
    expect(README).toContain('`npm run demo` builds, then runs:');
    expect(scripts.demo).toBe('npm run build && node examples/demo.mjs');
  });

  it('name every file in examples/', () => {
    for (const file of readdirSync(join(ROOT, 'examples'))) expect(README, `examples/${file}`).toContain(`examples/${file}`);
  });
});

describe('docs links', () => {
  it('are read as GitHub reads them (the anchors, on fixed text)', () => {
    expect(anchorOf('Span `tcp.connection`')).toBe('span-tcpconnection');
    expect(anchorOf('Privacy: what leaves the process')).toBe('privacy-what-leaves-the-process');
    expect(anchorOf('`doctor --json`')).toBe('doctor---json');
    expect(anchorOf('CLOSE_WAIT leaks')).toBe('close_wait-leaks');
    expect([...headingAnchors('# A\n## A\n```\n# not a heading\n```\n### A')]).toEqual(['a', 'a-1', 'a-2']);
    expect(relativeLinks('[x](docs/a.md#b) [y](#c) [z](https://e.org/#d) `[w](e.md)`\n```\n[v](f.md)\n```')).toEqual([
      { line: 1, path: 'docs/a.md', anchor: 'b' },
      { line: 1, path: '', anchor: 'c' },
    ]);
  });

  it('point to files that exist, and to headings in them', () => {
    for (const document of DOCUMENTS) {
      for (const link of relativeLinks(text(document))) {
        const where = `${document}:${link.line}: ${link.path}${link.anchor === undefined ? '' : `#${link.anchor}`}`;
        const target = link.path === '' ? document : normalize(join(dirname(document), link.path));
        expect(existsSync(join(ROOT, target)), `${where}: no file ${target}`).toBe(true);
        if (link.anchor === undefined) continue;
        expect(target.endsWith('.md'), `${where}: an anchor into a file that is not Markdown`).toBe(true);
        const anchors = headingAnchors(TEXT.get(target) ?? readFileSync(join(ROOT, target), 'utf8'));
        expect(anchors.has(link.anchor), `${where}: ${target} has no heading with that anchor`).toBe(true);
      }
    }
  });

  it('lead from the README to every file in docs/ and to ARCHITECTURE.md', () => {
    const linked = new Set(relativeLinks(README).map((link) => link.path));
    for (const document of DOCUMENTS.slice(1)) expect(linked.has(document), `README.md links to ${document}`).toBe(true);
  });
});

describe('the README as a front door', () => {
  it('is under 400 lines', () => {
    expect(README.split('\n').length).toBeLessThan(400);
  });

  it('shows install, the two commands, the drop-in and the findings in its first screen (60 lines)', () => {
    const screen = README.split('\n').slice(0, 60).join('\n');
    for (const text of [
      'npm ci && npm run demo',
      'npm ci && npm test',
      'npm install socklife',
      'node --require socklife/register',
      '## Findings at a glance',
    ]) {
      expect(screen, text).toContain(text);
    }
  });
});

const skip = skipWithReason(missingTool('ss'));

describe.skipIf(skip || markerError !== undefined || blocks.length === 0)('docs blocks, run against the packed package', () => {
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
    const where = `${block.document}:${block.line}`;
    const timeoutMs = block.timeoutSeconds * 1000;
    if (block.kind === 'file') {
      writeFileSync(join(dir, block.file ?? ''), block.content);
      return;
    }
    if (block.kind === 'run') {
      const file = block.file ?? `docs-block-${block.document.replace(/\W+/g, '-')}-${block.line}.${/^import\s/m.test(block.content) ? 'mjs' : 'cjs'}`;
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
    const name = `${block.document}:${block.line} (${block.heading}): ${block.kind} ${first.length > 72 ? `${first.slice(0, 71)}…` : first}`;
    it(name, () => run(block), commands * block.timeoutSeconds * 1000 + 10_000);
  }
});
