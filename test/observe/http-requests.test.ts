import * as http from 'node:http';
import * as https from 'node:https';
import { describe, expect, it } from 'vitest';
import { HttpRequestObserver, type RequestSink } from '../../src/observe/http-requests.js';

/** A sink that counts what it is told. */
function countingSink(): RequestSink & { calls: number } {
  const sink = {
    calls: 0,
    requestStarted: () => void sink.calls++,
    requestFinished: () => void sink.calls++,
    requestFailed: () => void sink.calls++,
    requestSpan: () => void sink.calls++,
    socketPooled: () => void sink.calls++,
    poolIdleTimeout: () => void sink.calls++,
  };
  return sink;
}

const METHODS = [
  [http.Server.prototype, 'emit'],
  [https.Server.prototype, 'emit'],
  [http.ClientRequest.prototype, 'onSocket'],
  [http.Agent.prototype, 'keepSocketAlive'],
] as const;

function current(): unknown[] {
  return METHODS.map(([proto, name]) => (proto as unknown as Record<string, unknown>)[name]);
}

describe('HttpRequestObserver', () => {
  it('wraps the server, client request and agent methods while enabled, and puts back what it found at disable', () => {
    const before = current();
    const ownBefore = METHODS.map(([proto, name]) => Object.prototype.hasOwnProperty.call(proto, name));
    const observer = new HttpRequestObserver(countingSink());
    observer.enable();
    current().forEach((method, i) => expect(method).not.toBe(before[i]));
    observer.disable();
    expect(current()).toEqual(before);
    // An inherited emit is inherited again, not copied onto the prototype.
    expect(METHODS.map(([proto, name]) => Object.prototype.hasOwnProperty.call(proto, name))).toEqual(ownBefore);
  });

  it('leaves a wrapper another library put over its own in place, and its own then passes calls through untold', () => {
    const sink = countingSink();
    const observer = new HttpRequestObserver(sink);
    observer.enable();
    const ours = http.Server.prototype.emit;
    const calls: unknown[] = [];
    const theirs = function (this: http.Server, ...args: Parameters<http.Server['emit']>): boolean {
      calls.push(args[0]);
      return Reflect.apply(ours, this, args) as boolean;
    };
    http.Server.prototype.emit = theirs as http.Server['emit'];
    try {
      observer.disable();
      expect(http.Server.prototype.emit).toBe(theirs);
      const server = http.createServer();
      let heard = 0;
      server.on('request', () => heard++);
      server.emit('request', { socket: {}, method: 'GET', url: '/' }, {});
      expect(calls).toEqual(['request']);
      expect(heard).toBe(1);
      expect(sink.calls).toBe(0);
    } finally {
      // Put back what Node had: the inherited emit.
      delete (http.Server.prototype as unknown as Record<string, unknown>)['emit'];
    }
  });
});
