import * as vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { captureCreationStack, type CreationStack } from '../../src/observe/creation-stack.js';

function makeSocketHere(): CreationStack {
  return captureCreationStack();
}

describe('creation stacks', () => {
  it('names the function that made the socket', () => {
    const stack = makeSocketHere();
    const frame = stack.userFrame();
    expect(frame?.functionName).toBe('makeSocketHere');
    expect(frame?.filePath).toMatch(/test\/observe\/creation-stack\.test\.ts$/);
    expect(stack.format()).toMatch(/^at makeSocketHere \(.*creation-stack\.test\.ts:\d+:\d+\)$/m);
  });

  it('shares one stack between sockets made at the same place', () => {
    const stacks = [0, 1, 2].map(() => makeSocketHere());
    expect(stacks[1]).toBe(stacks[0]);
    expect(stacks[2]).toBe(stacks[0]);
    // A different call site is a different stack.
    const elsewhere = captureCreationStack();
    expect(elsewhere).not.toBe(stacks[0]);
    expect(elsewhere.format()).not.toBe(stacks[0]?.format());
  });

  it("reads the stack whatever the application's Error.prepareStackTrace, and puts it and the stack limit back", () => {
    const previous = Error.prepareStackTrace;
    const limit = Error.stackTraceLimit;
    // Some libraries return V8's call sites themselves.
    const theirs = (_error: Error, callSites: NodeJS.CallSite[]): unknown => callSites;
    Error.prepareStackTrace = theirs;
    try {
      const stack = makeSocketHere();
      expect(stack.userFrame()?.functionName).toBe('makeSocketHere');
      expect(Error.prepareStackTrace).toBe(theirs);
      expect(Error.stackTraceLimit).toBe(limit);
    } finally {
      Error.prepareStackTrace = previous;
    }
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
  });

  it('reaches the application through more dependency frames than it takes at first', () => {
    // Twenty frames of a dependency (a file under node_modules) between the socket and the application.
    const dependency = vm.runInThisContext('(function dependency(n, f) { return n === 0 ? f() : dependency(n - 1, f); })', {
      filename: '/srv/app/node_modules/some-client/index.js',
    }) as (n: number, f: () => CreationStack) => CreationStack;
    function connectThroughDependency(): CreationStack {
      return dependency(20, captureCreationStack);
    }
    const stack = connectThroughDependency();
    expect(stack.format()).toMatch(/^at dependency \(\/srv\/app\/node_modules\/some-client\/index\.js:/);
    expect(stack.userFrame()?.functionName).toBe('connectThroughDependency');
  });
});
