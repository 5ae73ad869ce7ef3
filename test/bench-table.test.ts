import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error the bench helpers are plain ES modules without types
import { currentBlock, readmeBlock } from '../bench/lib/readme-table.mjs';

const read = (path: string): string => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

describe("the README's Overhead table", () => {
  it('is the last full benchmark run: the same lines as bench/results/summary.md', () => {
    const block = (currentBlock as (readme: string) => string | undefined)(read('README.md'));
    expect(block, 'the README has lost its bench-summary markers').toBeDefined();
    expect(block).toBe((readmeBlock as (summary: string) => string)(read('bench/results/summary.md')));
  });
});
