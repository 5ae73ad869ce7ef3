import { describe, expect, it } from 'vitest';
import { captureCreationStack, compactStack, isRawStack, type CreationStack } from '../../src/observe/creation-stack.js';

function makeSocketHere(): CreationStack {
  return captureCreationStack();
}

describe('creation stacks', () => {
  it('names the function that made the socket, before and after compaction', () => {
    const raw = makeSocketHere();
    expect(isRawStack(raw)).toBe(true);
    const frame = raw.userFrame();
    expect(frame?.functionName).toBe('makeSocketHere');
    expect(frame?.filePath).toMatch(/test\/observe\/creation-stack\.test\.ts$/);
    const compact = compactStack(raw);
    expect(isRawStack(compact)).toBe(false);
    expect(compact.format()).toBe(raw.format());
    expect(compact.userFrame()).toEqual(frame);
  });

  it('shares one compact stack between sockets made at the same place', () => {
    const stacks = [0, 1, 2].map(() => makeSocketHere());
    const compact = stacks.map(compactStack);
    expect(compact[1]).toBe(compact[0]);
    expect(compact[2]).toBe(compact[0]);
    // A different call site is a different stack.
    const elsewhere = compactStack(captureCreationStack());
    expect(elsewhere).not.toBe(compact[0]);
    expect(elsewhere.format()).not.toBe(compact[0]?.format());
  });

  it('never throws when the application makes stacks something other than text', () => {
    const previous = Error.prepareStackTrace;
    // Some libraries return V8's call sites themselves.
    Error.prepareStackTrace = (_error, callSites) => callSites;
    try {
      const compact = compactStack(makeSocketHere());
      expect(compact.format()).toBe('');
      expect(compact.userFrame()).toBeUndefined();
    } finally {
      Error.prepareStackTrace = previous;
    }
  });

  it('leaves a compact stack as it is', () => {
    const compact = compactStack(makeSocketHere());
    expect(compactStack(compact)).toBe(compact);
  });
});
