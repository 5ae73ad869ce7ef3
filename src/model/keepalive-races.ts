import type { Connection } from './connection.js';

/** How a pooled client connection lost the keep-alive race. */
export type KeepAliveRaceKind =
  /** A request was written on it after the peer's FIN had arrived (`'end'` read, or the kernel said CLOSE_WAIT). */
  | 'written_after_fin'
  /** A request on it failed with ECONNRESET/EPIPE, or the peer closed it under the request ("socket hang up"). */
  | 'failed_on_reuse';

/** One race the model saw, in order (`seq`). */
export interface KeepAliveRace {
  readonly seq: number;
  readonly kind: KeepAliveRaceKind;
  readonly connection: Connection;
  /** Epoch ms when the model saw it. */
  readonly at: number;
  /** The failed request's error: its code (ECONNRESET), else its class name; undefined when none was given. */
  readonly errorType: string | undefined;
}

/** Races kept at once: a detector reads them at each poll; beyond this many between two polls, the oldest go. */
export const MAX_KEPT_RACES = 64;

/**
 * The keep-alive races the model saw on reused client connections, newest last, bounded. The
 * connections often close at once (the failed request destroys them), before any poll: the
 * races outlive them here, for the detector to read by sequence number.
 */
export class KeepAliveRaces {
  private readonly races: KeepAliveRace[] = [];
  private nextSeq = 1;

  add(kind: KeepAliveRaceKind, connection: Connection, at: number, error?: unknown): void {
    if (this.races.length >= MAX_KEPT_RACES) this.races.shift();
    this.races.push({ seq: this.nextSeq++, kind, connection, at, errorType: errorTypeOf(error) });
  }

  /** The races after sequence number `seq`, oldest first. */
  since(seq: number): readonly KeepAliveRace[] {
    const races = this.races;
    if (races.length === 0 || (races[races.length - 1] as KeepAliveRace).seq <= seq) return [];
    return races.filter((r) => r.seq > seq);
  }

  clear(): void {
    this.races.length = 0;
  }
}

function errorTypeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.name : undefined;
}

/** Error codes of a write or read on a connection the peer had closed. */
const RACE_ERROR_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

/**
 * True when a failed request on a reused client connection lost the race: its error is a
 * reset or a broken pipe (undici's "other side closed" too), or none is known and the peer's
 * FIN came while the request was in flight (Node's "socket hang up").
 */
export function lostKeepAliveRace(c: Connection, error: unknown): boolean {
  const h = c.http;
  if (c.side !== 'client' || h === undefined || !h.reused) return false;
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return RACE_ERROR_CODES.has(code);
  return c.peerFinAt !== undefined && c.peerFinAt >= h.startedAt;
}
