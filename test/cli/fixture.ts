import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KernelSocketRow } from '../../src/observe/kernel/rows.js';
import { parseSs } from '../../src/observe/kernel/ss-parser.js';

/** The rows of test/cli/fixtures/ss-process.handwritten.txt (see the README there), through the real ss parser. */
export function processTable(): KernelSocketRow[] {
  const result = parseSs(readFileSync(join(__dirname, 'fixtures', 'ss-process.handwritten.txt'), 'utf8'));
  if (result.skipped !== 0) throw new Error(`fixture: ${result.skipped} lines skipped`);
  return result.rows;
}

/** The inodes the process under test holds in the fixture. */
export const PROCESS_INODES: ReadonlySet<number> = new Set([100, 101, 102, 103, 104, 105, 106, 107, 108]);
