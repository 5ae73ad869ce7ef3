import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// No shell anywhere in what ships: every child process is started with a fixed argv. Read from
// the sources, so that a later change cannot add a shell without this failing.

const SRC = join(__dirname, '..', '..', 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** Code without comments, so that prose about shells does not count and commented-out code cannot hide. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

/** What would start a shell, or a child process that is not given a fixed argv. */
const FORBIDDEN: ReadonlyArray<readonly [string, RegExp]> = [
  ['shell: true (or any shell option but false)', /\bshell\s*:(?!\s*false\b)/],
  ['child_process exec()/execSync() (always a shell)', /(?<![.\w])exec(?:Sync)?\s*\(/],
  ['exec or execSync imported', /\b(?:exec|execSync)\b\s*[,}][^;]*from\s+['"](?:node:)?child_process['"]/],
  ['a synchronous child process', /\b(?:spawnSync|execFileSync)\b/],
  ['a shell by name', /['"`](?:\/bin\/)?(?:ba|da|z)?sh['"`]|['"`]-c['"`]/],
  ['execa with a command string (execaCommand, $ template)', /\bexecaCommand\b|(?:^|[\s=(,;!])\$\s*`/m],
];

/** Every call that starts a child process, and the options it must carry. */
const SPAWNS = /\b(spawn|execFile|execa)\s*\(/g;

describe('no shell anywhere in src/', () => {
  const files = sources(SRC).map((path) => ({ path: relative(SRC, path), text: code(readFileSync(path, 'utf8')) }));

  it('finds the sources, and the checks catch what they are for', () => {
    expect(files.length).toBeGreaterThan(20);
    const bad = [
      "spawn('ss', argv, { shell: true })",
      'await $`ss -tan`',
      "execaCommand('ss -tan')",
      "exec('ss -tan')",
      "import { exec } from 'node:child_process'",
      'spawnSync(x)',
      "spawn('/bin/sh', ['-c', cmd])",
      "import { execSync, spawn } from 'child_process'",
    ];
    for (const sample of bad)
      expect(
        FORBIDDEN.some(([, pattern]) => pattern.test(sample)),
        sample,
      ).toBe(true);
    const fine = 'const m = /x/.exec(text); spawn(command, [...argv], { shell: false }); new RegExp(`^x{1,${n}}$`)';
    expect(FORBIDDEN.filter(([, pattern]) => pattern.test(fine)).map(([what]) => what)).toEqual([]);
  });

  it.each(FORBIDDEN)('has no %s', (_what, pattern) => {
    const offenders = files.filter((f) => pattern.test(f.text)).map((f) => f.path);
    expect(offenders).toEqual([]);
  });

  it('starts every child process with shell: false stated, from a command and an argv array', () => {
    const calls: string[] = [];
    for (const { path, text } of files) {
      for (const match of text.matchAll(SPAWNS)) {
        // The call up to its closing parenthesis, nested ones included.
        let depth = 0;
        let end = (match.index ?? 0) + match[0].length - 1;
        for (; end < text.length; end++) {
          if (text[end] === '(') depth++;
          else if (text[end] === ')' && --depth === 0) break;
        }
        const call = text.slice(match.index, end + 1);
        calls.push(`${path}: ${call.split('\n')[0]}`);
        expect(call, `${path}: ${call}`).toMatch(/\bshell\s*:\s*false\b/);
        expect(call, `${path}: ${call}`).not.toMatch(/\$\{|\+\s*['"` ]/);
      }
    }
    // One process runner, for the library and the CLI: found, checked, and the only one.
    expect(calls.some((c) => c.startsWith(join('observe', 'kernel', 'run-tool.ts')))).toBe(true);
    expect(calls.filter((c) => !c.startsWith(join('observe', 'kernel', 'run-tool.ts')))).toEqual([]);
  });
});
