import type { Connection } from '../model/connection.js';

/** A handshake that ended without an error but never completed (destroyed, timed out). */
export class HandshakeAborted extends Error {
  constructor(reason: string | undefined) {
    super(`connection closed before the handshake completed (${reason ?? 'destroyed'})`);
    this.name = reason === 'timeout' ? 'timeout' : 'aborted';
  }
}

/** A closed client's handshake failure, or undefined when it connected (or is a server's connection). */
export function handshakeFailure(c: Connection): Error | undefined {
  if (c.side !== 'client' || c.connectedAt !== undefined) return undefined;
  return c.error ?? new HandshakeAborted(c.closeReason);
}
