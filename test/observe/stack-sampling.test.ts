import { describe, expect, it } from 'vitest';
import { FindingSites } from '../../src/detect/finding-sites.js';
import type { CloseWaitLeak } from '../../src/detect/close-wait-finding.js';
import { newConnection, type Connection } from '../../src/model/connection.js';
import { StackSiteCloses } from '../../src/model/stack-site-closes.js';
import { captureCreationStack, type CreationStack } from '../../src/observe/creation-stack.js';
import { StackSampler, StackSite, type StackSamplingPolicy } from '../../src/observe/stack-sampling.js';
import { ATTR, creationStackAttributes } from '../../src/report/attributes.js';
import { findingRecord } from '../../src/report/finding-log.js';
import { FakeSocket } from '../model/fixture.js';

const EVERY = 3;

/** Which of `count` connections to one site are captured, each closing before the next opens. */
function capturedInTurn(sampler: StackSampler, site: StackSite, count: number, closes: StackSiteCloses): boolean[] {
  const captured: boolean[] = [];
  for (let i = 0; i < count; i++) {
    captured.push(sampler.shouldCapture(site));
    closes.closed(site);
  }
  return captured;
}

/** A CLOSE_WAIT leak found on `connection`. */
function leakOf(connection: Connection): CloseWaitLeak {
  return {
    type: 'close_wait_leak',
    connection,
    cause: 'end_not_called',
    since: 0,
    durationMs: 60_000,
    unreadKernelBytes: undefined,
    unreadNodeBytes: 0,
    readMode: 'flowing',
    detectedAt: 60_000,
  };
}

function makeStackHere(): CreationStack {
  return captureCreationStack();
}

describe('sampling of creation stacks by destination', () => {
  it('captures every connection to a new destination, then one in N once it has N closes', () => {
    const closes = new StackSiteCloses();
    const sampler = new StackSampler({ everyN: EVERY, maxDestinations: 8 }, undefined, closes);
    const site = sampler.siteOf('db.internal', 5432);
    expect(capturedInTurn(sampler, site, 12, closes)).toEqual([true, true, true, false, false, true, false, false, true, false, false, true]);
  });

  it('keeps capturing while connections stay open: only closes move a destination to sampling', () => {
    const sampler = new StackSampler({ everyN: EVERY, maxDestinations: 8 });
    const site = sampler.siteOf('db.internal', 5432);
    // Leaks never close.
    expect([0, 1, 2, 3, 4, 5].map(() => sampler.shouldCapture(site))).toEqual([true, true, true, true, true, true]);
  });

  it('captures every connection to a destination once a finding was reported on one of its connections', () => {
    const flagged = new Set<StackSite>();
    const policy: StackSamplingPolicy = { hadFinding: (site) => flagged.has(site) };
    const closes = new StackSiteCloses();
    const sampler = new StackSampler({ everyN: EVERY, maxDestinations: 8 }, policy, closes);
    const site = sampler.siteOf('api.internal', 443);
    const other = sampler.siteOf('cache.internal', 6379);
    capturedInTurn(sampler, site, EVERY, closes);
    capturedInTurn(sampler, other, EVERY, closes);
    expect(sampler.shouldCapture(site)).toBe(false);
    flagged.add(site);
    expect(capturedInTurn(sampler, site, 5, closes)).toEqual([true, true, true, true, true]);
    // Another destination keeps its sampling.
    expect(capturedInTurn(sampler, other, 3, closes)).toEqual([false, false, true]);
  });

  it('keeps one site per host and port, and forgets the destination met first past the bound', () => {
    const closes = new StackSiteCloses();
    const sampler = new StackSampler({ everyN: EVERY, maxDestinations: 2 }, undefined, closes);
    const a = sampler.siteOf('a.internal', 80);
    expect(sampler.siteOf('a.internal', 80)).toBe(a);
    expect(sampler.siteOf('a.internal', 81)).not.toBe(a);
    capturedInTurn(sampler, a, EVERY, closes);
    expect(sampler.shouldCapture(a)).toBe(false);
    sampler.siteOf('b.internal', 80);
    expect(sampler.size).toBe(2);
    // a.internal:80 was met first: forgotten, it is new again when it comes back.
    const again = sampler.siteOf('a.internal', 80);
    expect(again).not.toBe(a);
    expect(sampler.size).toBe(2);
    expect(sampler.shouldCapture(again)).toBe(true);
  });

  it('keeps a site per port for one host, and takes no host as the empty one', () => {
    const sampler = new StackSampler({ everyN: EVERY, maxDestinations: 8 });
    const a80 = sampler.siteOf('a.internal', 80);
    const a81 = sampler.siteOf('a.internal', 81);
    const b80 = sampler.siteOf('b.internal', 80);
    expect(new Set([a80, a81, b80]).size).toBe(3);
    expect([a80.destination, a81.destination, b80.destination]).toEqual(['a.internal:80', 'a.internal:81', 'b.internal:80']);
    // The same host given as another string with the same characters finds the same site.
    expect(sampler.siteOf(['a', 'internal'].join('.'), 81)).toBe(a81);
    const none = sampler.siteOf(undefined, 9000);
    expect(sampler.siteOf('', 9000)).toBe(none);
    expect(none.destination).toBe(':9000');
    expect(sampler.size).toBe(4);
  });

  it('keeps a new site on the port of the one it made forget', () => {
    const sampler = new StackSampler({ everyN: EVERY, maxDestinations: 1 });
    const a = sampler.siteOf('a.internal', 80);
    const b = sampler.siteOf('b.internal', 80);
    expect(b).not.toBe(a);
    expect(sampler.siteOf('b.internal', 80)).toBe(b);
    expect(sampler.size).toBe(1);
  });

  it('remembers the destinations of the connections findings were reported on', () => {
    const sites = new FindingSites();
    const site = new StackSite('10.0.0.7:5432');
    const connection = newConnection(1, 'client', 0, undefined, new FakeSocket(40_000, 5432));
    connection.stackSite = site;
    expect(sites.hadFinding(site)).toBe(false);
    sites.report(leakOf(connection));
    expect(sites.hadFinding(site)).toBe(true);
    expect(sites.hadFinding(new StackSite('10.0.0.7:5432'))).toBe(false);
  });

  it("says in the JSON line of a finding that its frame is a sibling connection's", () => {
    const site = new StackSite('10.0.0.7:5432');
    site.lastStack = makeStackHere();
    const connection = newConnection(1, 'client', 0, undefined, new FakeSocket(40_000, 5432));
    connection.stackSite = site;
    const record = findingRecord(leakOf(connection));
    expect(record.frame?.function).toBe('makeStackHere');
    expect(record.attributes['tcp.connection.creation_stack.source']).toBe('sibling');
    expect(record.attributes['code.stacktrace']).toBeUndefined();
  });

  it("reports a connection's own stack as own, and the last stack of its destination as sibling when it has none", () => {
    const stack = makeStackHere();
    const site = new StackSite('10.0.0.7:5432');
    site.lastStack = stack;
    const own = newConnection(1, 'client', 0, stack, new FakeSocket(40_000, 5432));
    own.stackSite = site;
    const sampledOut = newConnection(2, 'client', 0, undefined, new FakeSocket(40_001, 5432));
    sampledOut.stackSite = site;
    expect(creationStackAttributes(own)[ATTR.creationStackSource]).toBe('own');
    const sibling = creationStackAttributes(sampledOut);
    expect(sibling[ATTR.creationStackSource]).toBe('sibling');
    expect(sibling[ATTR.codeStacktrace]).toBe(stack.format());
    expect(sibling[ATTR.codeFunctionName]).toBe('makeStackHere');
    // No stack ever captured for its destination: no stack attributes at all.
    const none = newConnection(3, 'client', 0, undefined, new FakeSocket(40_002, 5432));
    none.stackSite = new StackSite('10.0.0.8:5432');
    expect(creationStackAttributes(none)).toEqual({});
  });
});
