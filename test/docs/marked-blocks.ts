/**
 * The runnable blocks of the README, ARCHITECTURE.md and docs/*.md. A fenced block is run by
 * the docs test only when the line right before it (blank lines aside) is a marker, an HTML
 * comment that GitHub does not show:
 *
 *   <!-- docs-test: run -->        a js block, written to a file and run with `node`
 *   <!-- docs-test: command -->    a sh block: each line one command, run without a shell
 *   <!-- docs-test: file=NAME -->  a block written to NAME, for later blocks to use
 *
 * Attributes, `name=value`, `name="a value"` or `name='a "value"'`:
 *
 *   expect=TEXT    the block's output (stdout and stderr, all its commands) contains TEXT; repeatable
 *   timeout=S      each command must end within S seconds (default 30)
 *   exit=N         each command must exit with N (default 0)
 *   until=TEXT     run: a server that does not exit; it passes once TEXT is printed, then is ended
 *   file=NAME      run: the file name to write (default docs-block-DOC-LINE.cjs, or .mjs for import syntax)
 *   stub=NAMES     command: files that stand for "your application" in the commands (app.js,
 *                  app.mjs...), written by the test from test/docs/stubs: they print the
 *                  options of the socklife instance that socklife/register started
 *   collector=SPAN command: an OTLP/HTTP collector listens on localhost:4318 during the block,
 *                  and must receive a span named SPAN
 *
 * Unmarked blocks (fragments, output samples, commands that need the repository) are not run.
 * An HTML comment outside fenced blocks that mentions docs-test but is not a valid marker is
 * an error, so a typo cannot turn a block off silently.
 */

export type BlockKind = 'run' | 'command' | 'file';

export interface MarkedBlock {
  readonly kind: BlockKind;
  /** The Markdown file the block is in, as given to `markedBlocks` (`README.md`, `docs/cli.md`...). */
  readonly document: string;
  /** 1-based line of the marker. */
  readonly line: number;
  /** The heading the block is under, for test names. */
  readonly heading: string;
  /** The fence's info string: `js`, `sh`... */
  readonly language: string;
  readonly content: string;
  readonly expect: readonly string[];
  readonly timeoutSeconds: number;
  readonly exitCode: number;
  readonly until: string | undefined;
  readonly file: string | undefined;
  readonly stubs: readonly string[];
  readonly collectorSpan: string | undefined;
}

const KINDS: readonly BlockKind[] = ['run', 'command', 'file'];
const LANGUAGES: Record<BlockKind, readonly string[]> = {
  run: ['js', 'javascript', 'cjs', 'mjs'],
  command: ['sh', 'bash', 'shell', 'console'],
  file: [],
};
const ATTRIBUTES: Record<BlockKind, readonly string[]> = {
  run: ['expect', 'timeout', 'exit', 'until', 'file'],
  command: ['expect', 'timeout', 'exit', 'stub', 'collector'],
  file: ['file'],
};
const MARKER = /^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$/;
const FENCE = /^\s*(`{3,}|~{3,})\s*([\w-]*)/;

export class DocsMarkerError extends Error {}

/** `a=1 b="x y" c='"q"'` → [['a','1'], ['b','x y'], ['c','"q"']]. */
export function parseAttributes(text: string, where: string): Array<[string, string]> {
  const attributes: Array<[string, string]> = [];
  const pattern = /\s*([a-z]+)=(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s"']+))/y;
  let at = 0;
  while (at < text.length) {
    if (text.slice(at).trim() === '') break;
    pattern.lastIndex = at;
    const m = pattern.exec(text);
    if (m === null) throw new DocsMarkerError(`${where}: cannot read the attributes from ${JSON.stringify(text.slice(at).trim())}`);
    const [, name, doubleQuoted, singleQuoted, bare] = m;
    const value = doubleQuoted !== undefined ? doubleQuoted.replace(/\\(.)/g, '$1') : (singleQuoted ?? bare ?? '');
    attributes.push([name ?? '', value]);
    at = pattern.lastIndex;
  }
  return attributes;
}

function integer(value: string, name: string, where: string, min: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min)
    throw new DocsMarkerError(`${where}: ${name} must be an integer of at least ${min}; got ${JSON.stringify(value)}`);
  return Number(value);
}

/** Every marked block of a Markdown text, in order. Throws a DocsMarkerError, naming `document` and the line, on a malformed marker. */
export function markedBlocks(markdown: string, document = 'README.md'): MarkedBlock[] {
  const lines = markdown.split('\n');
  const blocks: MarkedBlock[] = [];
  let heading = '(top)';
  let fence: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] ?? '';
    if (fence !== undefined) {
      if (text.trim().startsWith(fence) && text.trim().replace(/[`~]/g, '') === '') fence = undefined;
      continue;
    }
    const opening = FENCE.exec(text);
    if (opening) {
      fence = opening[1];
      continue;
    }
    if (/^#{1,6}\s/.test(text)) heading = text.replace(/^#+\s*/, '');
    // A comment that mentions docs-test must be a marker; prose may name it.
    if (!text.trimStart().startsWith('<!--') || !text.includes('docs-test')) continue;

    const where = `${document}:${i + 1}`;
    const marker = MARKER.exec(text);
    if (marker === null) throw new DocsMarkerError(`${where}: not a docs-test marker (expected <!-- docs-test: run|command|file ... -->): ${text.trim()}`);
    const body = marker[1] ?? '';
    const [word = ''] = body.split(/\s/, 1);
    // `file=NAME` alone is the file kind.
    const kind = (word.startsWith('file=') ? 'file' : word) as BlockKind;
    if (!KINDS.includes(kind)) throw new DocsMarkerError(`${where}: unknown docs-test kind ${JSON.stringify(word)}; known: ${KINDS.join(', ')}`);
    const attributes = parseAttributes(kind === 'file' ? body : body.slice(word.length), where);

    const values = (name: string) => attributes.filter(([n]) => n === name).map(([, v]) => v);
    for (const [name] of attributes) {
      if (!ATTRIBUTES[kind].includes(name)) throw new DocsMarkerError(`${where}: ${kind} takes no attribute ${name}; it takes ${ATTRIBUTES[kind].join(', ')}`);
      if (name !== 'expect' && values(name).length > 1) throw new DocsMarkerError(`${where}: ${name} given twice`);
    }

    // The block: the next non-blank line opens it.
    let j = i + 1;
    while (j < lines.length && (lines[j] ?? '').trim() === '') j++;
    const open = FENCE.exec(lines[j] ?? '');
    if (open === null) throw new DocsMarkerError(`${where}: a docs-test marker must come right before a fenced code block`);
    const [, ticks = '```', language = ''] = open;
    if (LANGUAGES[kind].length > 0 && !LANGUAGES[kind].includes(language)) {
      throw new DocsMarkerError(`${where}: a ${kind} block must be one of ${LANGUAGES[kind].join(', ')}; got ${JSON.stringify(language)}`);
    }
    const content: string[] = [];
    let k = j + 1;
    for (; k < lines.length; k++) {
      const line = lines[k] ?? '';
      if (line.trim().startsWith(ticks) && line.trim().replace(/[`~]/g, '') === '') break;
      content.push(line);
    }
    if (k >= lines.length) throw new DocsMarkerError(`${where}: the block is never closed`);

    const [file] = values('file');
    if (kind === 'file' && file === undefined) throw new DocsMarkerError(`${where}: file needs a name: <!-- docs-test: file=NAME -->`);
    if (file !== undefined && !/^[\w.-]+$/.test(file)) throw new DocsMarkerError(`${where}: file must be a plain file name; got ${JSON.stringify(file)}`);
    const stubs = (values('stub')[0] ?? '').split(/\s+/).filter(Boolean);
    for (const stub of stubs) {
      if (!/^[\w-]+\.(js|cjs|mjs)$/.test(stub)) throw new DocsMarkerError(`${where}: a stub is a .js, .cjs or .mjs file name; got ${JSON.stringify(stub)}`);
    }
    const [timeout] = values('timeout');
    const [exit] = values('exit');
    blocks.push({
      kind,
      document,
      line: i + 1,
      heading,
      language,
      content: content.join('\n') + '\n',
      expect: values('expect'),
      timeoutSeconds: timeout === undefined ? 30 : integer(timeout, 'timeout', where, 1),
      exitCode: exit === undefined ? 0 : integer(exit, 'exit', where, 0),
      until: values('until')[0],
      file,
      stubs,
      collectorSpan: values('collector')[0],
    });
    i = k;
  }
  return blocks;
}

/** One command of a `command` block: environment assignments, then argv. */
export interface Command {
  readonly text: string;
  readonly env: Record<string, string>;
  readonly argv: readonly string[];
}

/**
 * The commands of a sh block: one per line (a trailing `\` continues it), `#` comments
 * dropped, words split on blanks with '...' and "..." quoting, leading NAME=value words taken
 * as environment. Anything a shell would interpret otherwise (pipes, &&, redirections,
 * variables, globs) is refused: these lines are run without a shell.
 */
export function parseCommands(block: string, where: string): Command[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of block.split('\n')) {
    const line = pending + raw;
    if (/\\\s*$/.test(line)) {
      pending = line.replace(/\\\s*$/, ' ');
      continue;
    }
    pending = '';
    logical.push(line);
  }
  if (pending !== '') logical.push(pending);

  const commands: Command[] = [];
  for (const line of logical) {
    const words: string[] = [];
    let word: string | undefined;
    let i = 0;
    for (; i < line.length; i++) {
      const c = line[i] ?? '';
      if (c === "'" || c === '"') {
        const end = line.indexOf(c, i + 1);
        if (end < 0) throw new DocsMarkerError(`${where}: unclosed ${c} in ${JSON.stringify(line.trim())}`);
        const quoted = line.slice(i + 1, end);
        if (c === '"' && /[$`\\]/.test(quoted)) throw new DocsMarkerError(`${where}: "${quoted}" needs a shell to expand; use '...'`);
        word = (word ?? '') + quoted;
        i = end;
      } else if (/\s/.test(c)) {
        if (word !== undefined) words.push(word);
        word = undefined;
      } else if (c === '#' && word === undefined) {
        break; // a comment
      } else if (/[|&;<>()$`*?[\]{}\\!]/.test(c) || (c === '~' && word === undefined)) {
        throw new DocsMarkerError(`${where}: ${JSON.stringify(line.trim())} needs a shell (${c}); a command block is run without one`);
      } else {
        word = (word ?? '') + c;
      }
    }
    if (word !== undefined) words.push(word);
    if (words.length === 0) continue;
    const env: Record<string, string> = {};
    while (words.length > 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0] ?? '')) {
      const assignment = words.shift() ?? '';
      const eq = assignment.indexOf('=');
      env[assignment.slice(0, eq)] = assignment.slice(eq + 1);
    }
    if (words.length === 0) throw new DocsMarkerError(`${where}: ${JSON.stringify(line.trim())} sets variables but runs nothing`);
    commands.push({
      text: line
        .replace(/\s+#.*$/, '')
        .replace(/\s+/g, ' ')
        .trim(),
      env,
      argv: words,
    });
  }
  return commands;
}
