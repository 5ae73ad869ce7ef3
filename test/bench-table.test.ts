import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error the bench helpers are plain ES modules without types
import { currentBlock, TABLE_FILE, tableBlock } from '../bench/lib/overhead-table.mjs';

const read = (path: string): string => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

describe('the Overhead table in docs/overhead.md', () => {
  it('is the last full benchmark run: the same lines as bench/results/summary.md', () => {
    expect(TABLE_FILE).toBe('docs/overhead.md');
    const block = (currentBlock as (text: string) => string | undefined)(read(TABLE_FILE as string));
    expect(block, `${TABLE_FILE as string} has lost its bench-summary markers`).toBeDefined();
    expect(block).toBe((tableBlock as (summary: string) => string)(read('bench/results/summary.md')));
  });

  it('is linked from the README, which no longer holds a copy', () => {
    const readme = read('README.md');
    expect(readme).toContain('](docs/overhead.md)');
    expect((currentBlock as (text: string) => string | undefined)(readme)).toBeUndefined();
  });
});
