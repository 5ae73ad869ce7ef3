import { isIP } from 'node:net';
import { TcpState } from '../../tcp-states.js';
import { normalizeAddress, parseHostPort, parsePort } from './address.js';
import type { Endpoint, KernelSocketRow, KernelTimer, ParseResult } from './rows.js';

/** net-tools `tcp_state` names (Linux). */
const LINUX_STATES: ReadonlyMap<string, TcpState> = new Map([
  ['ESTABLISHED', TcpState.Established],
  ['SYN_SENT', TcpState.SynSent],
  ['SYN_RECV', TcpState.SynReceived],
  ['FIN_WAIT1', TcpState.FinWait1],
  ['FIN_WAIT2', TcpState.FinWait2],
  ['TIME_WAIT', TcpState.TimeWait],
  ['CLOSE', TcpState.Closed],
  ['CLOSE_WAIT', TcpState.CloseWait],
  ['LAST_ACK', TcpState.LastAck],
  ['LISTEN', TcpState.Listen],
  ['CLOSING', TcpState.Closing],
]);

/** BSD `tcpstates[]` names (macOS, FreeBSD). */
const BSD_STATES: ReadonlyMap<string, TcpState> = new Map([
  ['CLOSED', TcpState.Closed],
  ['LISTEN', TcpState.Listen],
  ['SYN_SENT', TcpState.SynSent],
  ['SYN_RCVD', TcpState.SynReceived],
  ['ESTABLISHED', TcpState.Established],
  ['CLOSE_WAIT', TcpState.CloseWait],
  ['FIN_WAIT_1', TcpState.FinWait1],
  ['CLOSING', TcpState.Closing],
  ['LAST_ACK', TcpState.LastAck],
  ['FIN_WAIT_2', TcpState.FinWait2],
  ['TIME_WAIT', TcpState.TimeWait],
]);

/** Header names that are two words in the header but one field in the data. */
const TWO_WORD_COLUMNS: ReadonlyMap<string, string> = new Map([
  ['Local', 'Address'],
  ['Foreign', 'Address'],
  ['PID/Program', 'name'],
]);

/** Column index by header name (`Local Address`, `State`, `(state)`, `Inode`, ...). */
type Columns = ReadonlyMap<string, number>;

function columnsFromHeader(tokens: readonly string[]): Columns {
  const columns = new Map<string, number>();
  for (let i = 0; i < tokens.length; i++) {
    const word = tokens[i] as string;
    const second = TWO_WORD_COLUMNS.get(word);
    if (second !== undefined && tokens[i + 1] === second) {
      columns.set(`${word} ${second}`, columns.size);
      i++;
    } else {
      columns.set(word, columns.size);
    }
  }
  return columns;
}

interface Dialect {
  readonly protos: ReadonlySet<string>;
  readonly stateColumn: string;
  readonly defaultHeader: string;
  parseEndpoint(token: string): Endpoint | undefined;
  parseState(token: string): TcpState | undefined;
}

/**
 * The shared loop: section titles (`Active Internet connections ...`) are not rows; a
 * `Proto ...` header sets the columns; every other line is a row or is counted as skipped.
 */
function parseNetstat(text: string, dialect: Dialect): ParseResult {
  const rows: KernelSocketRow[] = [];
  let skipped = 0;
  let columns = columnsFromHeader(dialect.defaultHeader.split(' '));
  for (const line of text.split('\n')) {
    const tokens = line.trim().split(/\s+/);
    if (tokens[0] === '' || line.startsWith('Active ')) continue;
    if (tokens[0] === 'Proto') {
      columns = columnsFromHeader(tokens);
      continue;
    }
    const row = parseRow(tokens, columns, dialect);
    if (row === undefined) skipped++;
    else rows.push(row);
  }
  return { rows, skipped };
}

function parseRow(tokens: readonly string[], columns: Columns, dialect: Dialect): KernelSocketRow | undefined {
  const field = (name: string): string | undefined => {
    const index = columns.get(name);
    return index === undefined ? undefined : tokens[index];
  };
  const proto = field('Proto') ?? '';
  if (!dialect.protos.has(proto)) return undefined;
  const recvQ = parseCount(field('Recv-Q'));
  const sendQ = parseCount(field('Send-Q'));
  const local = dialect.parseEndpoint(field('Local Address') ?? '');
  const peer = dialect.parseEndpoint(field('Foreign Address') ?? '');
  const state = dialect.parseState(field(dialect.stateColumn) ?? '');
  if (recvQ === undefined || sendQ === undefined || local === undefined || peer === undefined || state === undefined) {
    return undefined;
  }
  const row: { -readonly [K in keyof KernelSocketRow]: KernelSocketRow[K] } = { state, recvQ, sendQ, local, peer, inode: 0 };
  // -e columns (Linux): with -n, User is the numeric uid; without it a name we cannot use.
  const inodeText = field('Inode');
  if (inodeText !== undefined) {
    const inode = parseCount(inodeText);
    if (inode === undefined) return undefined;
    row.inode = inode;
  }
  const uid = parseCount(field('User'));
  if (uid !== undefined) row.uid = uid;
  if (columns.has('Timer')) {
    // Timer is the last column and two tokens (`keepalive (3.40/0/0)`); read it from the end
    // so a program name with a space in it does not shift it.
    const timer = parseNetstatTimer(tokens.slice(-2).join(' '));
    if (timer !== undefined) row.timer = timer;
  }
  return row;
}

function parseCount(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,15}$/.test(text)) return undefined;
  return Number(text);
}

const LINUX: Dialect = {
  protos: new Set(['tcp', 'tcp6']),
  stateColumn: 'State',
  defaultHeader: 'Proto Recv-Q Send-Q Local Address Foreign Address State',
  parseEndpoint: parseHostPort,
  parseState: (token) => LINUX_STATES.get(token),
};

/**
 * Parses Linux net-tools `netstat -tan` and its `-e`/`-ee`/`-p`/`-o`/`-W` variants. Columns are
 * found from the header. Without `-W` net-tools cuts long IPv6 addresses to fit the column;
 * cut addresses that are no longer addresses are skipped, which is why the source passes `-W`.
 */
export function parseNetstatLinux(text: string): ParseResult {
  return parseNetstat(text, LINUX);
}

/** net-tools `-o`: `on (0.44/1/0)` = name (seconds left/retransmits/probes). */
const NETSTAT_TIMER_NAMES: ReadonlyMap<string, string> = new Map([
  ['on', 'on'],
  ['keepalive', 'keepalive'],
  ['timewait', 'timewait'],
  ['probe', 'persist'], // the zero-window probe timer; `ss` calls it persist
]);

export function parseNetstatTimer(text: string): KernelTimer | undefined {
  const m = /^([a-z]+(?:-\d+)?) \((\d+\.\d+)\/(\d+)\/(\d+)\)$/.exec(text);
  if (m === null || m[1] === 'off') return undefined;
  const name = NETSTAT_TIMER_NAMES.get(m[1] as string) ?? 'unknown';
  // As `ss` does: keepalive and zero-window probes count probes, the others retransmissions.
  const retransmits = Number(name === 'keepalive' || name === 'persist' ? m[4] : m[3]);
  return { name, expiresMs: Math.round(Number(m[2]) * 1000), retransmits };
}

const BSD: Dialect = {
  protos: new Set(['tcp', 'tcp4', 'tcp6', 'tcp46']),
  stateColumn: '(state)',
  defaultHeader: 'Proto Recv-Q Send-Q Local Address Foreign Address (state)',
  parseEndpoint: parseBsdEndpoint,
  parseState: (token) => BSD_STATES.get(token),
};

/**
 * Parses macOS/BSD `netstat -an -p tcp` and `-anv` (the extra `-v` columns after `(state)`
 * are ignored). Addresses are `host.port` with the port after the last dot.
 */
export function parseNetstatBsd(text: string): ParseResult {
  return parseNetstat(text, BSD);
}

/**
 * `127.0.0.1.8080`, `*.8080`, `*.*`, `::1.8080`, `fe80::1%lo0.8080`. A bare `*` host is kept
 * as `*`, as `ss` prints a wildcard. BSD netstat cuts IPv6 hosts it finds too long; those no
 * longer parse as addresses and are rejected rather than guessed at.
 */
export function parseBsdEndpoint(token: string): Endpoint | undefined {
  const dot = token.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const port = parsePort(token.slice(dot + 1));
  if (port === undefined) return undefined;
  let host = token.slice(0, dot);
  let scope: string | undefined;
  const percent = host.indexOf('%');
  if (percent !== -1) {
    scope = host.slice(percent + 1);
    host = host.slice(0, percent);
    if (scope === '') return undefined;
  }
  if (host === '*') return scope === undefined ? { address: '*', port } : undefined;
  if (isIP(host) === 0) return undefined;
  const address = normalizeAddress(host);
  return scope === undefined ? { address, port } : { address, port, scope };
}
