import { describe, expect, it } from 'vitest';
import { TupleIndex } from '../../src/model/tuple-index.js';

interface Item {
  readonly name: string;
  readonly local: { address: string; port: number };
  readonly peer: { address: string; port: number };
}

const item = (name: string, local: string, localPort: number, peer: string, peerPort: number): Item => ({
  name,
  local: { address: local, port: localPort },
  peer: { address: peer, port: peerPort },
});

describe('TupleIndex', () => {
  it('finds an item by its exact 4-tuple only', () => {
    const index = new TupleIndex<Item>();
    const a = item('a', '127.0.0.1', 8080, '127.0.0.1', 40000);
    index.set(a);
    expect(index.get(a.local, a.peer)).toBe(a);
    expect(index.get({ address: '127.0.0.2', port: 8080 }, a.peer)).toBeUndefined();
    expect(index.get(a.local, { address: '127.0.0.1', port: 40001 })).toBeUndefined();
    expect(index.get({ address: '127.0.0.1', port: 40000 }, { address: '127.0.0.1', port: 8080 })).toBeUndefined();
    expect(index.size).toBe(1);
  });

  it('keeps connections that share both ports but not their addresses apart', () => {
    const index = new TupleIndex<Item>();
    const a = item('a', '127.0.0.1', 8080, '127.0.0.1', 40000);
    const b = item('b', '127.0.0.2', 8080, '127.0.0.1', 40000);
    const c = item('c', '::1', 8080, '::1', 40000);
    for (const x of [a, b, c]) index.set(x);
    expect(index.size).toBe(3);
    expect(index.get(b.local, b.peer)).toBe(b);
    expect(index.get(c.local, c.peer)).toBe(c);
    index.delete(b);
    expect(index.get(b.local, b.peer)).toBeUndefined();
    expect(index.get(a.local, a.peer)).toBe(a);
    expect(index.get(c.local, c.peer)).toBe(c);
    index.delete(a);
    index.delete(c);
    expect(index.size).toBe(0);
  });

  it('replaces the item under the same tuple, and deletes only the item it holds', () => {
    const index = new TupleIndex<Item>();
    const old = item('old', '127.0.0.1', 8080, '127.0.0.1', 40000);
    const reused = item('reused', '127.0.0.1', 8080, '127.0.0.1', 40000);
    index.set(old);
    index.set(reused);
    expect(index.size).toBe(1);
    expect(index.get(old.local, old.peer)).toBe(reused);
    index.delete(old); // no longer indexed: nothing happens
    expect(index.get(reused.local, reused.peer)).toBe(reused);
    index.delete(reused);
    expect(index.get(reused.local, reused.peer)).toBeUndefined();
    expect(index.size).toBe(0);
  });

  it('tells apart port pairs across the whole port range, high ports included', () => {
    const index = new TupleIndex<Item>();
    const items = [
      item('a', '127.0.0.1', 65535, '127.0.0.1', 65535),
      item('b', '127.0.0.1', 32768, '127.0.0.1', 0),
      item('c', '127.0.0.1', 0, '127.0.0.1', 32768),
      item('d', '127.0.0.1', 32767, '127.0.0.1', 65535),
      item('e', '127.0.0.1', 65535, '127.0.0.1', 1),
    ];
    for (const x of items) index.set(x);
    expect(index.size).toBe(items.length);
    for (const x of items) expect(index.get(x.local, x.peer)).toBe(x);
    expect(index.get({ address: '127.0.0.1', port: 1 }, { address: '127.0.0.1', port: 65535 })).toBeUndefined();
  });
});
