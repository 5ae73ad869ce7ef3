import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// The CLI runs on the library's engine (detectors, kernel reader, process runner) yet loads no
// OpenTelemetry: `socklife doctor` works where no SDK, and no API, is installed. Read from the
// sources, following every import from the executable.

const SRC = join(__dirname, '..', '..', 'src');

/** What a module loads when it runs: its imports and re-exports, but not those of types only (erased). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^(?:import|export)\s(?!type\s)[^;]*?from\s+'([^']+)'/gms)].map((m) => m[1] as string);
}

function closure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else packages.add(spec);
    }
  };
  visit(entry);
  return { files, packages };
}

describe('the CLI', () => {
  const { files, packages } = closure(join(SRC, 'cli', 'main.ts'));

  it('runs the detectors, the kernel reader and the process runner of the library', () => {
    const reached = [...files].map((f) => relative(SRC, f));
    for (const module of ['detect/close-wait-leak.ts', 'detect/half-close-stuck.ts', 'detect/time-wait.ts', 'detect/listen-pressure.ts']) {
      expect(reached).toContain(module);
    }
    expect(reached).toContain('observe/kernel/source-chain.ts');
    expect(reached).toContain('observe/kernel/run-tool.ts');
  });

  it('loads nothing but Node itself: no OpenTelemetry', () => {
    expect([...packages].filter((p) => !p.startsWith('node:'))).toEqual([]);
  });
});
