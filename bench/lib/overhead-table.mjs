// The Overhead table in docs/overhead.md is the benchmark's own: `npm run bench` (and
// `node bench/run.mjs --table`) write it between two markers, from the same lines as
// bench/results/summary.md, so the docs cannot drift from the last run.
// test/bench-table.test.ts holds them equal.
import { readFileSync, writeFileSync } from 'node:fs';

/** The file that shows the table, relative to the repository's root. */
export const TABLE_FILE = 'docs/overhead.md';
export const START = '<!-- bench-summary:start (written by bench/run.mjs; do not edit) -->';
export const END = '<!-- bench-summary:end -->';

/** The part of summary.md the docs show: the table and the lines about the run, not the details. */
export function tableBlock(summary) {
  const cut = summary.indexOf('<details>');
  return (cut === -1 ? summary : summary.slice(0, cut)).trim();
}

/** Where the block between the markers starts and ends, or undefined when they are missing. */
function blockBounds(text) {
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  if (start === -1 || end === -1 || end < start) return undefined;
  return { start: start + START.length, end };
}

/** The block currently between the markers, or undefined when they are missing. */
export function currentBlock(text) {
  const bounds = blockBounds(text);
  return bounds === undefined ? undefined : text.slice(bounds.start, bounds.end).trim();
}

/** Rewrites the block between the markers of the file at `path` from `summary`; false when the file has no markers. */
export function writeTableBlock(path, summary) {
  const text = readFileSync(path, 'utf8');
  const bounds = blockBounds(text);
  if (bounds === undefined) return false;
  writeFileSync(path, `${text.slice(0, bounds.start)}\n${tableBlock(summary)}\n${text.slice(bounds.end)}`);
  return true;
}
