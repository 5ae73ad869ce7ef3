import { executionAsyncId } from 'node:async_hooks';
import type { SocketView } from './socket-view.js';

/**
 * What the read that destroys an idle socket brought, as far as the socket can prove it:
 *
 * - `fin`: no byte, and the kernel still has the connection (getpeername succeeds): the read
 *   returned end of stream, the peer's FIN (the kernel's CLOSE_WAIT);
 * - `data`: bytes came (unasked-for data, not a close);
 * - `error`: no byte, and the kernel no longer has the connection (getpeername fails): the
 *   read returned an error (a reset, or keep-alive probes that went unanswered), not a FIN.
 */
export type IdleReadEnd = 'fin' | 'data' | 'error';

/** What socklife reads of a socket's handle: its async id, and the peer as the kernel has it. */
interface HandleView {
  getAsyncId?(): number;
  getpeername?(out: object): number;
}

/**
 * Asked by the model when an idle socket is being destroyed (before Node's `destroy()` runs)
 * with no `'end'` read: what the read in progress brought, when the destroy comes from
 * inside that socket's own read callback, undefined otherwise (the application, a timer,
 * `agent.destroy()`). Node 24's `http.Agent` replaces a pooled socket's read callback with one
 * that destroys it on any read, the peer's FIN included, before the stream sees it: inside a
 * callback the running async id is the handle's, and nothing else of that handle's runs while
 * the socket is pooled. `bytesReadWhenIdle`: `socket.bytesRead` when it went idle.
 */
export function idleReadEnd(socket: SocketView, bytesReadWhenIdle: number): IdleReadEnd | undefined {
  const handle = (socket as SocketView & { _handle?: HandleView | null })._handle;
  if (handle === undefined || handle === null || typeof handle.getAsyncId !== 'function' || typeof handle.getpeername !== 'function') return undefined;
  if (handle.getAsyncId() !== executionAsyncId()) return undefined;
  if (socket.bytesRead !== bytesReadWhenIdle) return 'data';
  // The handle, not `remoteAddress`: Node keeps the first answer, and the question is the kernel's state now.
  return handle.getpeername({}) === 0 ? 'fin' : 'error';
}
