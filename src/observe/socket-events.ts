import type * as net from 'node:net';
import type { CreationStack } from './creation-stack.js';
import type { StackSite } from './stack-sampling.js';
import type { SocketView } from './socket-view.js';

export type SocketSide = 'client' | 'server';

/** What Node tells about a socket, in the order it happens. */
export type SocketEvent =
  /** The client handshake finished (`'connect'`). */
  | { readonly type: 'connect' }
  /**
   * The application called `connect()` towards this target (port and host as given); `stack`:
   * the creation stack, when it was captured for this connection; `site`: its destination's
   * sampling record, when stacks are captured.
   */
  | {
      readonly type: 'connect_called';
      readonly host: string | undefined;
      readonly port: number | undefined;
      readonly stack?: CreationStack | undefined;
      readonly site?: StackSite | undefined;
    }
  /** A host name was resolved before connecting (`'lookup'`). */
  | { readonly type: 'lookup'; readonly host: string; readonly address?: string; readonly error?: Error }
  /** The socket's idle timeout fired (`'timeout'`); the application decides what to do. */
  | { readonly type: 'timeout' }
  /** The peer's FIN was read (`'end'`). */
  | { readonly type: 'end' }
  /** Our FIN went out: `end()` flushed (`'finish'`). */
  | { readonly type: 'finish' }
  /** The application called `end()`. */
  | { readonly type: 'end_called' }
  /** The application called `destroy()` or `resetAndDestroy()`. */
  | { readonly type: 'destroy_called'; readonly reset: boolean }
  /** The handle closed (`'close'`); `error` is the stream's error, if it had one. */
  | { readonly type: 'close'; readonly error?: Error };

/** The model side of the observer: it decides which sockets it tracks. */
export interface SocketSink {
  /**
   * A TCP socket appeared; returns false when the sink does not want it, or already follows it
   * (a channel and a wrapper can both announce one socket).
   */
  socketOpened(socket: SocketView, side: SocketSide, stack: CreationStack | undefined): boolean;
  /** Returns false when the socket was never followed (one lookup serves both questions). */
  socketEvent(socket: SocketView, event: SocketEvent): boolean;
}

/** Where listening servers go: `requestedBacklog` as given to `listen()`, when it was. */
export type ListenSink = (server: net.Server, requestedBacklog: number | undefined) => void;

/** The socket events socklife follows. */
export type ObservedEvent = 'connect' | 'lookup' | 'timeout' | 'end' | 'finish' | 'close';

const CONNECT: SocketEvent = Object.freeze({ type: 'connect' });
const TIMEOUT: SocketEvent = Object.freeze({ type: 'timeout' });
const END: SocketEvent = Object.freeze({ type: 'end' });
const FINISH: SocketEvent = Object.freeze({ type: 'finish' });
const CLOSE: SocketEvent = Object.freeze({ type: 'close' });
export const END_CALLED: SocketEvent = Object.freeze({ type: 'end_called' });
export const DESTROY_CALLED: SocketEvent = Object.freeze({ type: 'destroy_called', reset: false });
export const RESET_CALLED: SocketEvent = Object.freeze({ type: 'destroy_called', reset: true });

/** The sink's form of an emitted event (`args`: emit's arguments, the event name first). */
export function eventOf(socket: net.Socket, type: ObservedEvent, args: IArguments): SocketEvent {
  switch (type) {
    case 'connect':
      return CONNECT;
    case 'lookup': {
      // emit('lookup', error, address, family, host)
      const error: unknown = args[1];
      const address: unknown = args[2];
      const host: unknown = args[4];
      return {
        type: 'lookup',
        host: typeof host === 'string' ? host : '',
        ...(typeof address === 'string' ? { address } : {}),
        ...(error instanceof Error ? { error } : {}),
      };
    }
    case 'timeout':
      return TIMEOUT;
    case 'end':
      return END;
    case 'finish':
      return FINISH;
    case 'close': {
      const error = socket.errored;
      return error instanceof Error ? { type: 'close', error } : CLOSE;
    }
  }
}

/** The port and host of `connect(options)`, `connect(port, host?)` or `connect([options, cb])`. */
export function connectTarget(args: ArrayLike<unknown>): { host: string | undefined; port: number | undefined } {
  // net.connect() passes Node's normalized [options, callback] array as the only argument.
  const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
  if (typeof first === 'object' && first !== null) {
    const { host, port } = first as { host?: unknown; port?: unknown };
    return { host: typeof host === 'string' ? host : undefined, port: toPort(port) };
  }
  return { host: typeof args[1] === 'string' ? args[1] : undefined, port: toPort(first) };
}

function toPort(value: unknown): number | undefined {
  const port = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
}
