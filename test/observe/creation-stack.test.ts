import * as dc from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import { captureCreationStack, channelPublish, compactStack, isRawStack, type CreationStack } from '../../src/observe/creation-stack.js';

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

  it('leaves out the frames above the function it is told to cut above, and puts the stack limit back', () => {
    const limit = Error.stackTraceLimit;
    function socklifeApi(): CreationStack {
      return captureCreationStack(socklifeApi);
    }
    function applicationCode(): CreationStack {
      return socklifeApi();
    }
    const stack = applicationCode();
    expect(Error.stackTraceLimit).toBe(limit);
    expect(stack.format()).toMatch(/^at applicationCode \(/);
    expect(stack.format()).not.toMatch(/socklifeApi|captureCreationStack/);
    expect(stack.userFrame()?.functionName).toBe('applicationCode');
  });

  it("starts below diagnostics_channel's publish when a socket is announced there", () => {
    let stack: CreationStack | undefined;
    const subscriber = (): void => {
      stack = captureCreationStack(channelPublish());
    };
    function announceSocket(): void {
      dc.channel('net.client.socket').publish({});
    }
    dc.subscribe('net.client.socket', subscriber);
    try {
      announceSocket();
    } finally {
      dc.unsubscribe('net.client.socket', subscriber);
    }
    expect(stack?.format()).toMatch(/^at announceSocket \(/);
    expect(stack?.format()).not.toMatch(/subscriber|diagnostics_channel|captureCreationStack/);
    expect(stack?.userFrame()?.functionName).toBe('announceSocket');
  });
});
