// The README's Overhead table is the benchmark's own: `npm run bench` (and `node bench/run.mjs
// --table`) write it between two markers, from the same lines as bench/results/summary.md, so
// the README cannot drift from the last run. test/bench-table.test.ts holds them equal.
import { readFileSync, writeFileSync } from 'node:fs';

export const START = '<!-- bench-summary:start (written by bench/run.mjs; do not edit) -->';
export const END = '<!-- bench-summary:end -->';

/** The part of summary.md the README shows: the table and the lines about the run, not the details. */
export function readmeBlock(summary) {
  const cut = summary.indexOf('<details>');
  return (cut === -1 ? summary : summary.slice(0, cut)).trim();
}

/** Where the block between the README's markers starts and ends, or undefined when they are missing. */
function blockBounds(readme) {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start === -1 || end === -1 || end < start) return undefined;
  return { start: start + START.length, end };
}

/** The block currently between the README's markers, or undefined when they are missing. */
export function currentBlock(readme) {
  const bounds = blockBounds(readme);
  return bounds === undefined ? undefined : readme.slice(bounds.start, bounds.end).trim();
}

/** Rewrites the README's block from `summary`; false when the README has no markers. */
export function writeReadmeBlock(readmePath, summary) {
  const readme = readFileSync(readmePath, 'utf8');
  const bounds = blockBounds(readme);
  if (bounds === undefined) return false;
  writeFileSync(readmePath, `${readme.slice(0, bounds.start)}\n${readmeBlock(summary)}\n${readme.slice(bounds.end)}`);
  return true;
}
