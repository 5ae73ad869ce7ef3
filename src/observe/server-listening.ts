import * as net from 'node:net';
import { captureCreationStack, type CreationStack } from './creation-stack.js';
import { LastHitWeakMap } from './last-hit-weak-map.js';
import type { ListenSink } from './socket-events.js';

/**
 * What `listen()` tells: the backlog a server asked for, the stack that made it listen (which
 * its accepted sockets are said to come from), and when it listens.
 */
export class ServerListening {
  /** Read at every accept (`stackOf`). */
  private readonly stacks = new LastHitWeakMap<net.Server, CreationStack>();
  /** The backlog each server's `listen()` was given, until it listens. */
  private readonly requestedBacklogs = new WeakMap<net.Server, number>();

  constructor(
    private readonly captureStacks: boolean,
    private readonly sink: ListenSink,
  ) {}

  /** `listen()` was called (the tracing channel's start messages): its options and the caller's stack. */
  listenCalled(message: unknown): void {
    const { server, options } = (message ?? {}) as { server?: unknown; options?: { backlog?: unknown } };
    if (!(server instanceof net.Server)) return;
    if (this.captureStacks && !this.stacks.has(server)) this.stacks.set(server, captureCreationStack());
    const backlog = options?.backlog;
    if (typeof backlog === 'number' && Number.isInteger(backlog)) this.requestedBacklogs.set(server, backlog);
  }

  /** `listen()` finished (the tracing channel's asyncEnd). */
  listenDone(message: unknown): void {
    const server = (message as { server?: unknown } | undefined)?.server;
    if (server instanceof net.Server) this.listening(server);
  }

  /** A server given to `observeServer()`: its stack is the caller's, cut above socklife's `cutAbove`. */
  observed(server: net.Server, cutAbove: (...args: never[]) => unknown): void {
    if (this.captureStacks && !this.stacks.has(server)) this.stacks.set(server, captureCreationStack(cutAbove));
  }

  listening(server: net.Server): void {
    if (server.listening) this.sink(server, this.requestedBacklogs.get(server));
  }

  /** The stack that made the server that accepted `socket` listen. */
  stackOf(socket: net.Socket): CreationStack | undefined {
    const server = (socket as net.Socket & { server?: unknown }).server;
    return server instanceof net.Server ? this.stacks.get(server) : undefined;
  }
}
