import { readFile } from 'node:fs/promises';

/** Counters by table prefix (`Tcp`, `TcpExt`, ...) and name (`RetransSegs`, `ListenOverflows`, ...). */
export type SnmpCounters = Map<string, Map<string, number>>;

/**
 * Parses `/proc/net/snmp` and `/proc/net/netstat`: per prefix, a line of names followed by
 * a line of values (`Tcp: RtoAlgorithm ...` / `Tcp: 1 200 ...`). A pair whose lengths differ
 * is dropped whole, since zipping it would put values under the wrong names.
 */
export function parseSnmpStyle(text: string): SnmpCounters {
  const tables: SnmpCounters = new Map();
  let pending: { prefix: string; names: string[] } | undefined;
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) {
      pending = undefined;
      continue;
    }
    const prefix = line.slice(0, colon);
    const words = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter((w) => w !== '');
    const isValueLine = words.length > 0 && words.every((w) => /^-?\d+$/.test(w));
    if (pending !== undefined && pending.prefix === prefix && isValueLine) {
      if (pending.names.length === words.length) {
        const table = tables.get(prefix) ?? new Map<string, number>();
        pending.names.forEach((name, i) => table.set(name, Number(words[i])));
        tables.set(prefix, table);
      }
      pending = undefined;
    } else {
      pending = isValueLine ? undefined : { prefix, names: words };
    }
  }
  return tables;
}

/**
 * `/proc/net/sockstat`: `TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1`, names and values
 * alternating on one line per protocol. Returns the TCP line's fields.
 */
export function parseSockstat(text: string): Map<string, number> {
  const fields = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('TCP:')) continue;
    const words = line.slice(4).trim().split(/\s+/);
    for (let i = 0; i + 1 < words.length; i += 2) {
      const value = words[i + 1] as string;
      if (/^\d+$/.test(value)) fields.set(words[i] as string, Number(value));
    }
  }
  return fields;
}

export interface PortRange {
  readonly low: number;
  readonly high: number;
}

/** `/proc/sys/net/ipv4/ip_local_port_range`: two numbers, tab-separated. */
export function parsePortRange(text: string): PortRange | undefined {
  const m = /^\s*(\d{1,5})\s+(\d{1,5})\s*$/.exec(text);
  if (m === null) return undefined;
  const low = Number(m[1]);
  const high = Number(m[2]);
  return low >= 1 && low <= high && high <= 65535 ? { low, high } : undefined;
}

/** Kernel-wide TCP counters (they cover the whole network namespace, not this process). */
export interface KernelCounters {
  /** TcpExt ListenOverflows: SYNs or ACKs dropped because an accept queue was full. */
  readonly listenOverflows?: number;
  /** TcpExt ListenDrops: all drops on listeners (includes the overflows). */
  readonly listenDrops?: number;
  /** TcpExt TCPSynRetrans: SYNs and SYN-ACKs retransmitted (a handshake waiting on a lost segment). */
  readonly synRetrans?: number;
  /** TcpExt TCPReqQFullDoCookies: SYNs answered with a SYN cookie because a listener's SYN queue was full. */
  readonly synQueueFullCookies?: number;
  /** Tcp RetransSegs: segments retransmitted. */
  readonly retransSegs?: number;
  /** Tcp ActiveOpens / PassiveOpens: connections opened by connect() / accepted. */
  readonly activeOpens?: number;
  readonly passiveOpens?: number;
  /** Tcp AttemptFails: connection attempts that failed (SYN_SENT or SYN_RECEIVED to CLOSED). */
  readonly attemptFails?: number;
  /** Tcp EstabResets: resets from ESTABLISHED or CLOSE_WAIT. */
  readonly estabResets?: number;
  /** Tcp CurrEstab: connections now in ESTABLISHED or CLOSE_WAIT. */
  readonly currEstab?: number;
  /** Tcp OutRsts: segments sent with RST. */
  readonly outRsts?: number;
  /** TcpExt TW: TIME_WAIT sockets that ran their full timer. */
  readonly timeWaitsFinished?: number;
  /** Ephemeral port range for connect(). */
  readonly ephemeralPortRange?: PortRange;
  /** `/proc/net/sockstat` TCP `tw`: TIME_WAIT sockets now, in the whole network namespace. */
  readonly timeWaitNow?: number;
  /** `/proc/net/sockstat` TCP `orphan`: sockets no process holds any more, finishing their close. */
  readonly orphansNow?: number;
}

export interface KernelCounterPaths {
  readonly snmp: string;
  readonly netstat: string;
  readonly portRange: string;
  readonly sockstat: string;
}

const DEFAULT_PATHS: KernelCounterPaths = {
  snmp: '/proc/net/snmp',
  netstat: '/proc/net/netstat',
  portRange: '/proc/sys/net/ipv4/ip_local_port_range',
  sockstat: '/proc/net/sockstat',
};

/** Reads the counters; a file that cannot be read or parsed leaves its fields undefined. Never rejects. */
export async function readKernelCounters(paths: Partial<KernelCounterPaths> = {}): Promise<KernelCounters> {
  const { snmp, netstat, portRange, sockstat } = { ...DEFAULT_PATHS, ...paths };
  const [snmpText, netstatText, portRangeText, sockstatText] = await Promise.all([
    readOrEmpty(snmp),
    readOrEmpty(netstat),
    readOrEmpty(portRange),
    readOrEmpty(sockstat),
  ]);
  const tcpSockets = parseSockstat(sockstatText);
  const tcp = parseSnmpStyle(snmpText).get('Tcp');
  const tcpExt = parseSnmpStyle(netstatText).get('TcpExt');
  return {
    listenOverflows: tcpExt?.get('ListenOverflows'),
    listenDrops: tcpExt?.get('ListenDrops'),
    synRetrans: tcpExt?.get('TCPSynRetrans'),
    synQueueFullCookies: tcpExt?.get('TCPReqQFullDoCookies'),
    retransSegs: tcp?.get('RetransSegs'),
    activeOpens: tcp?.get('ActiveOpens'),
    passiveOpens: tcp?.get('PassiveOpens'),
    attemptFails: tcp?.get('AttemptFails'),
    estabResets: tcp?.get('EstabResets'),
    currEstab: tcp?.get('CurrEstab'),
    outRsts: tcp?.get('OutRsts'),
    timeWaitsFinished: tcpExt?.get('TW'),
    ephemeralPortRange: parsePortRange(portRangeText),
    timeWaitNow: tcpSockets.get('tw'),
    orphansNow: tcpSockets.get('orphan'),
  };
}

/** A missing or unreadable file reads as empty, which every parser above maps to "unknown". */
async function readOrEmpty(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}
