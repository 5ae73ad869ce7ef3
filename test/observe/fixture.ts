import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KernelSocketRow } from '../../src/observe/kernel/rows.js';

export function readFixture(name: string): string {
  return readFileSync(join(__dirname, '..', 'fixtures', name), 'utf8');
}

/** The row with this inode; fails the test when there is not exactly one. */
export function byInode(rows: readonly KernelSocketRow[], inode: number): KernelSocketRow {
  const found = rows.filter((r) => r.inode === inode);
  if (found.length !== 1) throw new Error(`expected one row with inode ${inode}, found ${found.length}`);
  return found[0] as KernelSocketRow;
}

/** Row identity across sources: state and normalised 4-tuple (scope left out: only `ss` prints it). */
export function rowKey(r: KernelSocketRow): string {
  return `${r.state} ${r.local.address} ${r.local.port} ${r.peer.address} ${r.peer.port}`;
}
