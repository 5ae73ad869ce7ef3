import { describe, expect, it } from 'vitest';
import { FindingRateLimiter } from '../../src/detect/rate-limiter.js';

const T0 = 1_000_000;

describe('FindingRateLimiter', () => {
  it('reports when a condition starts, then at most once per interval while it lasts, with when the run began', () => {
    const limiter = new FindingRateLimiter(1000);
    expect(limiter.hold('a', T0)).toBe(T0);
    expect(limiter.hold('a', T0 + 500)).toBeUndefined();
    expect(limiter.hold('a', T0 + 1000)).toBe(T0);
  });

  it('reports at once, within the interval, a reason not named yet, and each only once', () => {
    const limiter = new FindingRateLimiter(1000);
    expect(limiter.hold('a', T0, ['x'])).toBe(T0);
    expect(limiter.hold('a', T0 + 100, ['x', 'y'])).toBe(T0);
    expect(limiter.hold('a', T0 + 200, ['y'])).toBeUndefined();
  });

  it('makes a condition that ends and comes back within the interval wait it out, then starts a new run', () => {
    const limiter = new FindingRateLimiter(1000);
    limiter.hold('a', T0);
    limiter.release('a');
    expect(limiter.hold('a', T0 + 300)).toBeUndefined();
    expect(limiter.hold('a', T0 + 1000)).toBe(T0 + 300);
  });

  it('forgets, at the end of a round, subjects not held whose interval is over; forget() at once; at most maxSubjects', () => {
    const limiter = new FindingRateLimiter(1000, 2);
    limiter.hold('a', T0);
    limiter.hold('b', T0);
    limiter.hold('c', T0); // drops a, the oldest
    expect([...limiter.keys()]).toEqual(['b', 'c']);
    limiter.endRound(T0);
    limiter.hold('c', T0 + 500);
    limiter.endRound(T0 + 500);
    expect(limiter.size).toBe(2); // b is not held, but reported less than an interval ago
    limiter.hold('c', T0 + 1000);
    limiter.endRound(T0 + 1000);
    expect([...limiter.keys()]).toEqual(['c']);
    limiter.forget('c');
    expect(limiter.size).toBe(0);
  });
});
