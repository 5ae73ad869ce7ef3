import type { Connection } from '../model/connection.js';

/** Why a socket is stuck in CLOSE_WAIT. */
export type CloseWaitCause =
  /** `'end'` was emitted (the peer's FIN was read) and the application never called `end()`. */
  | 'end_not_called'
  /** The kernel holds the peer's FIN but the stream was never read to it: no `'end'` ever came. */
  | 'not_read_to_eof';

/** A connection that has stayed in CLOSE_WAIT past the threshold. */
export interface CloseWaitLeak {
  readonly type: 'close_wait_leak';
  readonly connection: Connection;
  readonly cause: CloseWaitCause;
  /** Epoch ms when the connection entered CLOSE_WAIT (the `'end'` event, or the first poll that saw it). */
  readonly since: number;
  readonly durationMs: number;
  /** Bytes the kernel holds unread (Recv-Q), when a kernel source saw the socket. */
  readonly unreadKernelBytes: number | undefined;
  /** Bytes in Node's readable buffer, not yet consumed by the application. */
  readonly unreadNodeBytes: number;
  /** The stream's read mode when the leak was found: never read, paused, or flowing. */
  readonly readMode: 'not_started' | 'paused' | 'flowing';
  readonly detectedAt: number;
}
