import { diag } from '@opentelemetry/api';
import type { Connection } from './connection.js';

/**
 * A connection that has lived this long keeps its creation stack as shared text instead of
 * V8's frames (which hold every caller's receiver); short-lived ones never pay the formatting.
 */
const COMPACT_AGE_MS = 1000;
const SLICE_MS = 4;

/**
 * Schedules the compaction of the creation stacks of long-lived connections, in slices of a
 * few milliseconds (never one long block of the event loop), going on where the last slice
 * stopped. It decides which records and when; the tracker that owns them makes the change
 * (`compactOne`), so that only the tracker writes a record.
 */
export class StackCompaction {
  private sweep: Iterator<Connection> | undefined;
  private scheduled = false;
  private stopped = false;

  constructor(
    private readonly connections: () => ReadonlySet<Connection>,
    private readonly compactOne: (c: Connection) => void,
    /** The model's clock (epoch ms), which dated the connections. */
    private readonly now: () => number,
  ) {}

  /** Starts (or goes on with) a sweep over the connections opened more than a second ago. */
  run(): void {
    if (this.stopped || this.scheduled) return;
    const openedBefore = this.now() - COMPACT_AGE_MS;
    this.slice(openedBefore);
  }

  stop(): void {
    this.stopped = true;
    this.sweep = undefined;
  }

  private slice(openedBefore: number): void {
    if (this.stopped) return;
    let done: boolean;
    try {
      done = this.compact(openedBefore, this.now() + SLICE_MS);
    } catch (error) {
      // Runs from setImmediate too, outside the poll's guard: nothing may reach the application.
      diag.error('socklife: could not compact creation stacks', error);
      this.sweep = undefined;
      return;
    }
    if (done) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.slice(openedBefore);
    });
  }

  /** Returns false when `deadline` (epoch ms) came first. */
  private compact(openedBefore: number, deadline: number): boolean {
    this.sweep ??= this.connections().values();
    let n = 0;
    for (let next = this.sweep.next(); !next.done; next = this.sweep.next()) {
      const c = next.value;
      if (c.createdAt < openedBefore) this.compactOne(c);
      // Reading the clock costs too: look every 16 connections.
      if (++n % 16 === 0 && this.now() > deadline) return false;
    }
    this.sweep = undefined;
    return true;
  }
}
