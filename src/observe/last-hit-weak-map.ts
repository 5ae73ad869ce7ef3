/**
 * A WeakMap that remembers its last hit: a process mostly accepts on one server, so a lookup
 * by server made at every accept costs a comparison rather than a hash lookup. It holds that
 * one key strongly until another key hits or the key is deleted.
 */
export class LastHitWeakMap<K extends object, V> {
  private readonly map = new WeakMap<K, V>();
  private lastKey: K | undefined;
  private lastValue: V | undefined;

  get(key: K): V | undefined {
    if (key === this.lastKey) return this.lastValue;
    const value = this.map.get(key);
    if (value !== undefined) {
      this.lastKey = key;
      this.lastValue = value;
    }
    return value;
  }

  has(key: K): boolean {
    return key === this.lastKey || this.map.has(key);
  }

  set(key: K, value: V): void {
    this.map.set(key, value);
    if (key === this.lastKey) this.lastValue = value;
  }

  delete(key: K): void {
    this.map.delete(key);
    if (key === this.lastKey) this.lastKey = this.lastValue = undefined;
  }
}
