/** The `net.Socket` methods socklife wraps. */
export type PatchedMethod = 'connect' | 'end' | 'destroy' | 'resetAndDestroy' | 'emit';

export type SocketMethod = (...args: unknown[]) => unknown;
export type SocketPrototype = Record<PatchedMethod, SocketMethod>;

/** What a wrapper calls through to: the prototype's own method, or the parent prototype's, looked up at each call. */
export interface CallTarget<M extends string = PatchedMethod> {
  readonly original: SocketMethod;
  readonly hadOwn: boolean;
  readonly parent: Record<M, SocketMethod>;
}

const SOCKLIFE_WRAPPED = Symbol.for('socklife.wrapped');

/**
 * Installs socklife's wrappers on a prototype and takes them off again: it records what each
 * wrapped, marks each wrapper, and on `restore()` leaves alone a method someone else wrapped
 * over socklife's (that wrapper turns into a pass-through instead).
 */
export class PrototypeWrappers<M extends string = PatchedMethod> {
  private readonly originals = new Map<M, unknown>();

  constructor(private readonly proto: Record<M, SocketMethod>) {}

  /**
   * What a wrapper of `method` calls through to, recorded for `restore`: the prototype's own
   * method, or, for an inherited one (emit, destroy), the parent prototype, whose method the
   * wrapper looks up again at each call, so that a library wrapping it there later
   * (EventEmitter, Writable) still sees the sockets' calls.
   */
  callTarget(method: M): CallTarget<M> | undefined {
    const original = this.proto[method];
    if (typeof original !== 'function') return undefined;
    const hadOwn = Object.prototype.hasOwnProperty.call(this.proto, method);
    this.originals.set(method, hadOwn ? original : undefined);
    return { original, hadOwn, parent: Object.getPrototypeOf(this.proto) as Record<M, SocketMethod> };
  }

  /** Puts socklife's wrapper in place, marked with what it wraps (`restore` looks for the mark). */
  install(method: M, wrapped: SocketMethod, original: SocketMethod): void {
    Object.defineProperty(wrapped, SOCKLIFE_WRAPPED, { value: original });
    this.proto[method] = wrapped;
  }

  restore(): void {
    const proto = this.proto as unknown as Record<string, unknown>;
    for (const [method, original] of this.originals) {
      const current = proto[method] as { [SOCKLIFE_WRAPPED]?: unknown } | undefined;
      // Someone wrapped over us: leave their wrapper; ours turns into a pass-through via the sink.
      if (current?.[SOCKLIFE_WRAPPED] === undefined) continue;
      if (original === undefined) delete proto[method];
      else proto[method] = original;
    }
    this.originals.clear();
  }
}
