import { describe, expect, it } from 'vitest';
import { EndpointReader } from '../../src/observe/endpoints.js';
import { LastHitWeakMap } from '../../src/observe/last-hit-weak-map.js';
import type { ServerView, SocketView } from '../../src/observe/socket-view.js';
import { FakeSocket } from '../model/fixture.js';

/** A server that counts how often its address is asked (getsockname). */
class CountingServer implements ServerView {
  asked = 0;
  constructor(public port: number) {}
  address(): { port: number; address: string } {
    this.asked++;
    return { port: this.port, address: '127.0.0.1' };
  }
}

function acceptedBy(server: ServerView): SocketView {
  return Object.assign(new FakeSocket(8080, 40_000), { server });
}

describe('EndpointReader.listeningEndpoint', () => {
  it("reads a server's endpoint once for all its accepts, across servers, and again after it listens anew", () => {
    const reader = new EndpointReader();
    const a = new CountingServer(8080);
    const b = new CountingServer(9090);
    expect(reader.listeningEndpoint(acceptedBy(a))).toEqual({ port: 8080, address: '127.0.0.1' });
    expect(reader.listeningEndpoint(acceptedBy(a))?.port).toBe(8080);
    expect(reader.listeningEndpoint(acceptedBy(b))?.port).toBe(9090);
    expect(reader.listeningEndpoint(acceptedBy(a))?.port).toBe(8080);
    expect([a.asked, b.asked]).toEqual([1, 1]);
    // Closed and listening elsewhere: the next accept reads it again.
    a.port = 8181;
    reader.serverListening(a);
    expect(reader.listeningEndpoint(acceptedBy(a))?.port).toBe(8181);
    expect(a.asked).toBe(2);
  });
});

describe('LastHitWeakMap', () => {
  it('answers as a WeakMap whatever key hit last: set, has, get and delete', () => {
    const map = new LastHitWeakMap<object, string>();
    const k1 = {};
    const k2 = {};
    expect(map.has(k1)).toBe(false);
    expect(map.get(k1)).toBeUndefined();
    map.set(k1, 'one');
    map.set(k2, 'two');
    expect(map.get(k1)).toBe('one');
    expect(map.get(k2)).toBe('two');
    map.set(k2, 'two again');
    expect(map.get(k2)).toBe('two again');
    expect(map.has(k2)).toBe(true);
    map.delete(k2);
    expect(map.has(k2)).toBe(false);
    expect(map.get(k2)).toBeUndefined();
    expect(map.get(k1)).toBe('one');
  });
});
