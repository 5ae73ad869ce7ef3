import { TcpState } from '../../tcp-states.js';
import { parseHostPort } from './address.js';
import type { Endpoint, KernelSocketRow, KernelTimer, ParseResult, TcpInfo } from './rows.js';

/** `ss` state column names (iproute2 ss.c `sstate_name`) mapped to semconv values. */
const SS_STATE_NAMES: ReadonlyMap<string, TcpState> = new Map([
  ['ESTAB', TcpState.Established],
  ['SYN-SENT', TcpState.SynSent],
  ['SYN-RECV', TcpState.SynReceived],
  ['NEW-SYN-RECV', TcpState.SynReceived],
  ['FIN-WAIT-1', TcpState.FinWait1],
  ['FIN-WAIT-2', TcpState.FinWait2],
  ['TIME-WAIT', TcpState.TimeWait],
  ['UNCONN', TcpState.Closed],
  ['CLOSE-WAIT', TcpState.CloseWait],
  ['LAST-ACK', TcpState.LastAck],
  ['LISTEN', TcpState.Listen],
  ['CLOSING', TcpState.Closing],
]);

/** Names the `ss` state filter takes (`ss state NAME`), by semconv value. */
export const SS_FILTER_STATE_NAMES: Readonly<Record<TcpState, string>> = {
  closed: 'closed',
  listen: 'listening',
  syn_sent: 'syn-sent',
  syn_received: 'syn-recv',
  established: 'established',
  fin_wait_1: 'fin-wait-1',
  fin_wait_2: 'fin-wait-2',
  close_wait: 'close-wait',
  closing: 'closing',
  last_ack: 'last-ack',
  time_wait: 'time-wait',
};

export interface SsParseOptions {
  /** The state of every row when the output has no State column (one `state` filter drops it). */
  readonly impliedState?: TcpState;
}

/**
 * One socket line. Its tcp_info line is kept as text and parsed on first read: most rows of
 * a poll belong to sockets already known to be where they are, and parsing their tcp_info
 * would be two thirds of the parse time wasted.
 */
class SsRow implements KernelSocketRow {
  inode = 0;
  uid: number | undefined = undefined;
  timer: KernelTimer | undefined = undefined;
  infoLine: string | undefined = undefined;
  private info: TcpInfo | undefined = undefined;

  constructor(
    readonly state: TcpState,
    readonly recvQ: number,
    readonly sendQ: number,
    readonly local: Endpoint,
    readonly peer: Endpoint,
  ) {}

  get tcpInfo(): TcpInfo | undefined {
    if (this.info === undefined && this.infoLine !== undefined) this.info = parseTcpInfo(this.infoLine);
    return this.info;
  }
}

/**
 * Parses `ss -tn[a][i][e][o][H]` output. A socket is one line, followed, with `-i`, by an
 * indented line of tcp_info. Lines that do not fit are skipped and counted, never thrown on.
 * Lines are walked by offset and only the fields a row keeps become strings: a poll can be
 * tens of thousands of lines.
 */
export function parseSs(text: string, options: SsParseOptions = {}): ParseResult {
  const rows: KernelSocketRow[] = [];
  let skipped = 0;
  let last: SsRow | undefined;
  for (let start = 0; start < text.length;) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const first = text.charCodeAt(start);
    if (first === TAB || first === SPACE) {
      // The tcp_info line belongs to the socket line above it (TIME-WAIT's is blank: no tcp_info).
      if (last !== undefined && last.infoLine === undefined) {
        const info = text.slice(start, end);
        if (info.trim() !== '') last.infoLine = info;
      }
    } else if (end > start) {
      const line = text.slice(start, end);
      const row = parseSocketLine(line, options.impliedState);
      if (row !== undefined) rows.push(row);
      else if (line.trim() !== '' && !isHeader(line)) skipped++;
      last = row;
    }
    start = end + 1;
  }
  return { rows, skipped };
}

const TAB = 9;
const SPACE = 32;

function isHeader(line: string): boolean {
  return /^(State|Netid|Recv-Q)\s/.test(line);
}

/** Splits a line on runs of whitespace (what `split(/\s+/)` does, without the regular expression). */
function tokenize(line: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && isSpace(line.charCodeAt(i))) i++;
    if (i >= n) break;
    const from = i;
    while (i < n && !isSpace(line.charCodeAt(i))) i++;
    tokens.push(line.slice(from, i));
  }
  return tokens;
}

function isSpace(code: number): boolean {
  return code === SPACE || code === TAB || code === 13;
}

function parseSocketLine(line: string, impliedState: TcpState | undefined): SsRow | undefined {
  const tokens = tokenize(line);
  let i = 0;
  if (tokens[i] === 'tcp') i++; // Netid column, printed when several socket kinds were asked for.
  let state = SS_STATE_NAMES.get(tokens[i] ?? '');
  if (state !== undefined) i++;
  else state = impliedState;
  if (state === undefined) return undefined;
  const recvQ = parseCount(tokens[i++]);
  const sendQ = parseCount(tokens[i++]);
  const local = parseHostPort(tokens[i++] ?? '');
  const peer = parseHostPort(tokens[i++] ?? '');
  if (recvQ === undefined || sendQ === undefined || local === undefined || peer === undefined) return undefined;
  const row = new SsRow(state, recvQ, sendQ, local, peer);
  for (; i < tokens.length; i++) {
    const token = tokens[i] as string;
    if (token.startsWith('ino:')) row.inode = parseCount(token.slice(4)) ?? 0;
    else if (token.startsWith('uid:')) row.uid = parseCount(token.slice(4));
    else if (token.startsWith('timer:(')) row.timer = parseSsTimer(token);
  }
  return row;
}

function parseCount(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** `timer:(on,200ms,0)`, `timer:(keepalive,119min,0)`, `timer:(timewait,56sec,0)`. */
export function parseSsTimer(token: string): KernelTimer | undefined {
  const m = /^timer:\(([a-z_]+),([^,]*),(\d+)\)$/.exec(token);
  if (m === null) return undefined;
  const expiresMs = parseSsDuration(m[2] as string);
  if (expiresMs === undefined) return undefined;
  return { name: m[1] as string, expiresMs, retransmits: Number(m[3]) };
}

/**
 * Durations as ss.c prints them: `1min`, `1min5sec`, `56sec`, `200ms`, and `5.123ms`
 * (five seconds and 123 ms: a dot follows the seconds when milliseconds are printed).
 * An empty field means zero.
 */
export function parseSsDuration(text: string): number | undefined {
  if (text === '') return 0;
  const m = /^(?:(\d+)min)?(?:(\d+)(sec|\.))?(?:(\d+)ms)?$/.exec(text);
  if (m === null || (m[1] === undefined && m[2] === undefined && m[4] === undefined)) return undefined;
  if (m[3] === '.' && m[4] === undefined) return undefined;
  return Number(m[1] ?? 0) * 60_000 + Number(m[2] ?? 0) * 1000 + Number(m[4] ?? 0);
}

type NumericInfoKey = { [K in keyof TcpInfo]-?: TcpInfo[K] extends number | undefined ? K : never }[keyof TcpInfo];

/** `key:value` fields of the tcp_info line that map one-to-one onto a number. */
const INFO_FIELDS: ReadonlyMap<string, NumericInfoKey> = new Map<string, NumericInfoKey>([
  ['rto', 'rtoMs'],
  ['cwnd', 'cwnd'],
  ['ssthresh', 'ssthresh'],
  ['lost', 'lost'],
  ['bytes_sent', 'bytesSent'],
  ['bytes_acked', 'bytesAcked'],
  ['bytes_received', 'bytesReceived'],
  ['bytes_retrans', 'bytesRetrans'],
  ['segs_out', 'segsOut'],
  ['segs_in', 'segsIn'],
  ['lastsnd', 'lastSndMs'],
  ['lastrcv', 'lastRcvMs'],
  ['lastack', 'lastAckMs'],
  ['mss', 'mss'],
  ['pmtu', 'pmtu'],
  ['minrtt', 'minRttMs'],
]);

/** Parses the indented tcp_info line of `ss -i` into typed fields; unknown fields are ignored. */
export function parseTcpInfo(line: string): TcpInfo {
  const info: { -readonly [K in keyof TcpInfo]: TcpInfo[K] } = {};
  for (const token of line.trim().split(/\s+/)) {
    const colon = token.indexOf(':');
    if (colon <= 0) continue;
    const key = token.slice(0, colon);
    const value = token.slice(colon + 1);
    if (key === 'rtt') {
      const [rtt, rttVar] = value.split('/');
      const r = toNumber(rtt);
      const v = toNumber(rttVar);
      if (r !== undefined) info.rttMs = r;
      if (v !== undefined) info.rttVarMs = v;
    } else if (key === 'retrans') {
      const [current, total] = value.split('/');
      const c = toNumber(current);
      const t = toNumber(total);
      if (c !== undefined) info.retransCurrent = c;
      if (t !== undefined) info.retransTotal = t;
    } else {
      const field = INFO_FIELDS.get(key);
      const n = field === undefined ? undefined : toNumber(value);
      if (field !== undefined && n !== undefined) info[field] = n;
    }
  }
  return info;
}

function toNumber(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+(\.\d+)?$/.test(text)) return undefined;
  return Number(text);
}
