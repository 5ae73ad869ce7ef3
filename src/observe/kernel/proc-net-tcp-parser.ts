import { endianness } from 'node:os';
import { TcpState } from '../../tcp-states.js';
import { normalizeAddress } from './address.js';
import type { Endpoint, KernelSocketRow, KernelTimer, ParseResult } from './rows.js';

/** Kernel state numbers as `/proc/net/tcp` prints them (`st`, hex), mapped to semconv values. */
const PROC_STATES: ReadonlyMap<number, TcpState> = new Map([
  [0x01, TcpState.Established],
  [0x02, TcpState.SynSent],
  [0x03, TcpState.SynReceived],
  [0x04, TcpState.FinWait1],
  [0x05, TcpState.FinWait2],
  [0x06, TcpState.TimeWait],
  [0x07, TcpState.Closed],
  [0x08, TcpState.CloseWait],
  [0x09, TcpState.LastAck],
  [0x0a, TcpState.Listen],
  [0x0b, TcpState.Closing],
  [0x0c, TcpState.SynReceived], // NEW_SYN_RECV: a request socket, SYN_RECEIVED to the outside world
]);

/** The `tr` field, named as `ss -o` names the same timer (iproute2 ss.c `tmr_name`). */
const TIMER_NAMES: readonly string[] = ['off', 'on', 'keepalive', 'timewait', 'persist'];
const TIMER_KEEPALIVE = 2;
const TIMER_PERSIST = 4;

/**
 * `tm->when` is printed through jiffies_delta_to_clock_t(), so it counts USER_HZ ticks
 * (100 per second on every Linux ABI we run on), not jiffies. Checked on this kernel:
 * `ss -o` said `keepalive,3.480ms` while /proc said `0000015C` (348 ticks).
 */
const MS_PER_CLOCK_TICK = 10;

/**
 * The columns of a data line, named from the header. The header has two words where the
 * data has one `a:b` field (`tx_queue rx_queue` → `00000000:00000000`, `tr tm->when` →
 * `00:00000000`); those pairs become one column here.
 */
type Layout = ReadonlyMap<string, number>;

const JOINED_HEADER_WORDS: ReadonlyMap<string, string> = new Map([
  ['tx_queue', 'rx_queue'],
  ['tr', 'tm->when'],
]);

/** The layout every kernel since 2.6 prints, used until (or unless) a header line is seen. */
const DEFAULT_LAYOUT: Layout = layoutFromHeader('sl local_address rem_address st tx_queue rx_queue tr tm->when retrnsmt uid timeout inode') as Layout;

export interface ProcNetTcpParseOptions {
  /**
   * Whether the host that wrote the text is little-endian. Addresses are printed as
   * 32-bit words in host byte order, so the byte order decides how to decode them.
   * Defaults to this host's.
   */
  readonly littleEndian?: boolean;
}

/**
 * Parses `/proc/net/tcp` and `/proc/net/tcp6` (also both concatenated: each header line
 * resets the layout). Lines that do not fit are skipped and counted, never thrown on.
 */
export function parseProcNetTcp(text: string, options: ProcNetTcpParseOptions = {}): ParseResult {
  const littleEndian = options.littleEndian ?? endianness() === 'LE';
  const rows: KernelSocketRow[] = [];
  let skipped = 0;
  let layout: Layout | undefined = DEFAULT_LAYOUT;
  for (const line of text.split('\n')) {
    const tokens = line.trim().split(/\s+/);
    if (tokens[0] === '') continue;
    if (tokens[0] === 'sl') {
      // An unknown header means an unknown format: skip its lines rather than misread them.
      layout = layoutFromHeader(line);
      continue;
    }
    const row = layout === undefined ? undefined : parseDataLine(tokens, layout, littleEndian);
    if (row === undefined) skipped++;
    else rows.push(row);
  }
  return { rows, skipped };
}

function layoutFromHeader(header: string): Layout | undefined {
  const words = header.trim().split(/\s+/);
  const columns = new Map<string, number>();
  for (let i = 0; i < words.length; i++) {
    const word = words[i] as string;
    const joined = JOINED_HEADER_WORDS.get(word);
    if (joined !== undefined && words[i + 1] === joined) i++;
    columns.set(word === 'remote_address' ? 'rem_address' : word, columns.size);
  }
  const required = ['sl', 'local_address', 'rem_address', 'st', 'tx_queue', 'tr', 'retrnsmt', 'uid', 'timeout', 'inode'];
  return required.every((name) => columns.has(name)) ? columns : undefined;
}

function parseDataLine(tokens: readonly string[], layout: Layout, littleEndian: boolean): KernelSocketRow | undefined {
  const field = (name: string): string => tokens[layout.get(name) ?? -1] ?? '';
  if (!/^\d+:$/.test(field('sl'))) return undefined;
  const local = parseHexEndpoint(field('local_address'), littleEndian);
  const peer = parseHexEndpoint(field('rem_address'), littleEndian);
  const state = PROC_STATES.get(parseHex(field('st'), 2) ?? -1);
  const [txQueue, rxQueue] = parseHexPair(field('tx_queue'), 8, 8);
  const [timerCode, when] = parseHexPair(field('tr'), 2, 16);
  const retransmits = parseHex(field('retrnsmt'), 8);
  const uid = parseDecimal(field('uid'));
  const probes = parseDecimal(field('timeout'));
  const inode = parseDecimal(field('inode'));
  if (
    local === undefined ||
    peer === undefined ||
    state === undefined ||
    txQueue === undefined ||
    rxQueue === undefined ||
    timerCode === undefined ||
    when === undefined ||
    retransmits === undefined ||
    uid === undefined ||
    probes === undefined ||
    inode === undefined ||
    local.family !== peer.family
  ) {
    return undefined;
  }
  // On LISTEN rx_queue is the accept-queue depth and tx_queue is 0: unlike `ss`, /proc does not print the backlog limit.
  const row: { -readonly [K in keyof KernelSocketRow]: KernelSocketRow[K] } = {
    state,
    recvQ: rxQueue,
    sendQ: txQueue,
    local: local.endpoint,
    peer: peer.endpoint,
    inode,
    uid,
  };
  if (timerCode !== 0) {
    const timer: KernelTimer = {
      name: TIMER_NAMES[timerCode] ?? 'unknown',
      expiresMs: when * MS_PER_CLOCK_TICK,
      // Like `ss`: keepalive and zero-window probes count icsk_probes_out (the `timeout` column), the rest icsk_retransmits.
      retransmits: timerCode === TIMER_KEEPALIVE || timerCode === TIMER_PERSIST ? probes : retransmits,
    };
    row.timer = timer;
  }
  return row;
}

interface HexEndpoint {
  readonly family: 4 | 6;
  readonly endpoint: Endpoint;
}

/** `0100007F:1F90` (IPv4) or 32 hex digits `:PORT` (IPv6); the port is plain big-endian hex. */
function parseHexEndpoint(token: string, littleEndian: boolean): HexEndpoint | undefined {
  const m = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/.exec(token);
  if (m === null) return undefined;
  const bytes = hexWordsToBytes(m[1] as string, littleEndian);
  const port = parseInt(m[2] as string, 16);
  if (bytes.length === 4) return { family: 4, endpoint: { address: bytes.join('.'), port } };
  return { family: 6, endpoint: { address: normalizeAddress(formatIpv6(bytes)), port } };
}

/** Each 8-digit word is a 32-bit number in host byte order: on little-endian hosts its bytes are reversed. */
function hexWordsToBytes(hex: string, littleEndian: boolean): number[] {
  const bytes: number[] = [];
  for (let w = 0; w < hex.length; w += 8) {
    const word = [0, 2, 4, 6].map((b) => parseInt(hex.slice(w + b, w + b + 2), 16));
    bytes.push(...(littleEndian ? word.reverse() : word));
  }
  return bytes;
}

/**
 * Formats 16 bytes as inet_ntop() does (glibc, and libuv for Node's `remoteAddress`):
 * lower case, the longest run of two or more zero words as `::` (the first on a tie), and
 * the last 32 bits dotted for `::ffff:a.b.c.d` and `::a.b.c.d`.
 */
export function formatIpv6(bytes: readonly number[]): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < 8 && words[end] === 0) end++;
    if (end - i > bestLength) {
      bestStart = i;
      bestLength = end - i;
    }
    i = end;
  }
  if (bestLength < 2) bestStart = -1;
  const embedsIpv4 = bestStart === 0 && (bestLength === 6 || (bestLength === 5 && words[5] === 0xffff));
  const parts: string[] = [];
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      parts.push(i === 0 ? ':' : '');
      i += bestLength - 1;
      if (i === 7) parts.push('');
      continue;
    }
    if (i === 6 && embedsIpv4) {
      parts.push(bytes.slice(12, 16).join('.'));
      break;
    }
    parts.push((words[i] as number).toString(16));
  }
  return parts.join(':');
}

function parseHex(text: string, maxDigits: number): number | undefined {
  if (!new RegExp(`^[0-9A-Fa-f]{1,${maxDigits}}$`).test(text)) return undefined;
  const n = parseInt(text, 16);
  return Number.isSafeInteger(n) ? n : undefined;
}

function parseHexPair(text: string, firstDigits: number, secondDigits: number): [number | undefined, number | undefined] {
  const colon = text.indexOf(':');
  if (colon === -1) return [undefined, undefined];
  return [parseHex(text.slice(0, colon), firstDigits), parseHex(text.slice(colon + 1), secondDigits)];
}

function parseDecimal(text: string): number | undefined {
  if (!/^\d{1,15}$/.test(text)) return undefined;
  return Number(text);
}
