import { afterEach, describe, expect, it } from 'vitest';
import { EventLoopStalls, STALL_MIN_MS, STALL_RESOLUTION_MS } from '../../src/observe/event-loop-stalls.js';

/** Blocks this thread (and so its event loop) for `ms`. */
function block(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const turn = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

let stalls: EventLoopStalls;
afterEach(() => stalls.stop());

describe('EventLoopStalls (perf_hooks.monitorEventLoopDelay)', () => {
  it('measures a blocked loop once its timer runs again, once', async () => {
    stalls = new EventLoopStalls();
    stalls.start();
    await turn(5 * STALL_RESOLUTION_MS);
    block(400);
    await turn();
    const stall = stalls.takeLongestMs();
    expect(stall).toBeGreaterThanOrEqual(400);
    // The gap includes at most one sampling interval before the block; the rest is scheduling slack.
    expect(stall).toBeLessThan(400 + STALL_RESOLUTION_MS + 500);
    expect(stalls.takeLongestMs()).toBeUndefined();
  });

  it('sees a stall that starts right after a poll that found none', async () => {
    stalls = new EventLoopStalls();
    stalls.start();
    await turn(5 * STALL_RESOLUTION_MS);
    expect(stalls.takeLongestMs()).toBeUndefined();
    block(300);
    await turn();
    expect(stalls.takeLongestMs()).toBeGreaterThanOrEqual(300);
  });

  it('sees the next stall after one was taken', async () => {
    stalls = new EventLoopStalls();
    stalls.start();
    await turn(5 * STALL_RESOLUTION_MS);
    block(200);
    await turn();
    expect(stalls.takeLongestMs()).toBeGreaterThanOrEqual(200);
    await turn(3 * STALL_RESOLUTION_MS);
    block(300);
    await turn();
    expect(stalls.takeLongestMs()).toBeGreaterThanOrEqual(300);
  });

  it('keeps a stall that no one asked about until it is taken, whatever came after', async () => {
    stalls = new EventLoopStalls();
    stalls.start();
    await turn(5 * STALL_RESOLUTION_MS);
    block(STALL_MIN_MS + 150);
    await turn(10 * STALL_RESOLUTION_MS);
    expect(stalls.takeLongestMs()).toBeGreaterThanOrEqual(STALL_MIN_MS + 150);
  });

  it('says nothing when not started or once stopped', async () => {
    stalls = new EventLoopStalls();
    block(STALL_MIN_MS + 50);
    await turn();
    expect(stalls.takeLongestMs()).toBeUndefined();
    stalls.start();
    await turn(5 * STALL_RESOLUTION_MS);
    block(STALL_MIN_MS + 50);
    await turn();
    stalls.stop();
    expect(stalls.takeLongestMs()).toBeUndefined();
  });
});
