/**
 * Produces a real TCP socket in any of the 11 states, inside a private network namespace,
 * and holds it there until `dispose()`, so that kernel tools (ss, /proc/net/tcp) can read it.
 *
 *   const s = await produceState('close_wait');
 *   try { ... s.readTable() ... `${s.procNetDir}/tcp` ... } finally { await s.dispose(); }
 *
 * How: a fresh namespace (netns.ts), the nftables ruleset from `rulesFor(state, ports)`
 * loaded in it, then `ip netns exec NAME node state-factory.mjs STATE` which builds the
 * connection on loopback with the ports chosen here and prints the socket's 4-tuple once the
 * kernel shows the state. `produceState` resolves only after `ss` in the namespace shows that
 * 4-tuple in that state too (for `closed`: shows no row for it).
 */
import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { TcpState } from '../../src/tcp-states.js';
import { createNetns, loadExeca, runInNetns, type Netns } from './netns.js';

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** The fixed ports the connection uses: the server listens on `server`, the client binds `client`. */
export interface StatePorts {
  readonly server: number;
  readonly client: number;
}

export interface ProduceStateOptions {
  /** 4 = 127.0.0.1, 6 = ::1. Default 4. */
  readonly family?: 4 | 6;
  /** Default: random, server in 20000–25999, client in 26000–31999 (below the ephemeral range). */
  readonly ports?: StatePorts;
  /** How long to wait for the state to appear, in ms. Default 10 000. */
  readonly timeoutMs?: number;
}

export interface ProducedState {
  readonly state: TcpState;
  readonly family: 4 | 6;
  /** The namespace the socket lives in; run tools there with `ip netns exec NAME ...`. */
  readonly netns: string;
  /** Pid of the Node process holding the connection (it runs inside the namespace). */
  readonly pid: number;
  /** Which side of the connection is in the state: `client` or `server`. */
  readonly role: 'client' | 'server';
  /** The endpoint of the socket in the state (for `closed`: of the socket that was). */
  readonly local: Endpoint;
  /** Its peer; for `listen` the wildcard (`0.0.0.0` or `::`, port 0, printed `*` by ss). */
  readonly peer: Endpoint;
  readonly ports: StatePorts;
  /** `ss -tanieoH` run inside the namespace: every TCP socket there, with inode, timer and tcp_info. */
  readTable(): Promise<string>;
  /** `/proc/<pid>/net` of the child: its `tcp`/`tcp6` files show the namespace's table. */
  readonly procNetDir: string;
  /** Stops the child (stdin closed, then SIGTERM, then SIGKILL) and deletes the namespace. Idempotent. */
  dispose(): Promise<void>;
}

/** Where the Node script that builds the connection lives. */
export const STATE_FACTORY_SCRIPT = join(__dirname, 'state-factory.mjs');

/** The `ss` State column for each state; `closed` has no row. */
export const SS_STATE_COLUMN: Readonly<Record<TcpState, string | undefined>> = {
  closed: undefined,
  listen: 'LISTEN',
  syn_sent: 'SYN-SENT',
  syn_received: 'SYN-RECV',
  established: 'ESTAB',
  fin_wait_1: 'FIN-WAIT-1',
  fin_wait_2: 'FIN-WAIT-2',
  close_wait: 'CLOSE-WAIT',
  closing: 'CLOSING',
  last_ack: 'LAST-ACK',
  time_wait: 'TIME-WAIT',
};

/** Kernel state numbers as `/proc/net/tcp` prints them (two hex digits). */
export const PROC_NET_TCP_STATE: Readonly<Record<TcpState, string | undefined>> = {
  closed: undefined,
  established: '01',
  syn_sent: '02',
  syn_received: '03',
  fin_wait_1: '04',
  fin_wait_2: '05',
  time_wait: '06',
  close_wait: '08',
  last_ack: '09',
  listen: '0A',
  closing: '0B',
};

/**
 * The nftables ruleset (text for `nft -f -`) that holds a connection in `state`, or
 * undefined when none is needed. Drops are on the input hook, so the sender sees a segment
 * lost in the network (a real retransmission timer), not a local send error. Only the
 * connection's own ports are matched.
 *
 * - syn_sent: SYNs to the server port are lost.
 * - syn_received, last_ack: pure ACKs client → server are lost (the handshake's third
 *   segment; for last_ack also the ACK of the server's FIN).
 * - fin_wait_1: pure ACKs server → client are lost (the ACK of the client's FIN).
 * - closing: every FIN client → server is lost.
 */
export function rulesFor(state: TcpState, ports: StatePorts): string | undefined {
  const { server, client } = ports;
  const pureAck = 'tcp flags & (fin | syn | rst | ack) == ack';
  let rule: string;
  switch (state) {
    case 'syn_sent':
      rule = `tcp dport ${server} tcp flags & (fin | syn | rst | ack) == syn drop`;
      break;
    case 'syn_received':
    case 'last_ack':
      rule = `tcp sport ${client} tcp dport ${server} ${pureAck} drop`;
      break;
    case 'fin_wait_1':
      rule = `tcp sport ${server} tcp dport ${client} ${pureAck} drop`;
      break;
    case 'closing':
      rule = `tcp sport ${client} tcp dport ${server} tcp flags & fin == fin drop`;
      break;
    default:
      return undefined;
  }
  return ['table inet socklife_harness {', '  chain input {', '    type filter hook input priority 0; policy accept;', `    ${rule}`, '  }', '}', ''].join(
    '\n',
  );
}

/** Random ports for one connection. The namespace is private, so they never collide. */
export function randomPorts(): StatePorts {
  return { server: randomInt(20000, 26000), client: randomInt(26000, 32000) };
}

/** How `ss` prints an endpoint: `127.0.0.1:80`, `[::1]:80`, `0.0.0.0:*`. */
export function formatSsEndpoint(endpoint: Endpoint): string {
  const host = endpoint.address.includes(':') ? `[${endpoint.address}]` : endpoint.address;
  return `${host}:${endpoint.port === 0 ? '*' : String(endpoint.port)}`;
}

/**
 * The State column of every `ss -tan[H]`-style row whose local and peer columns are exactly
 * this 4-tuple (tcp_info continuation lines and a header line are skipped).
 */
export function ssStatesFor(table: string, local: Endpoint, peer: Endpoint): string[] {
  const wantLocal = formatSsEndpoint(local);
  const wantPeer = formatSsEndpoint(peer);
  const states: string[] = [];
  for (const line of table.split('\n')) {
    if (line === '' || /^\s/.test(line)) continue;
    const columns = line.trim().split(/\s+/);
    if (columns[3] === wantLocal && columns[4] === wantPeer && columns[0] !== undefined) states.push(columns[0]);
  }
  return states;
}

/** True when `table` shows what `state` means for this 4-tuple (for `closed`: no row in either direction). */
export function tableShows(table: string, state: TcpState, local: Endpoint, peer: Endpoint): boolean {
  const column = SS_STATE_COLUMN[state];
  if (column === undefined) return ssStatesFor(table, local, peer).length === 0 && ssStatesFor(table, peer, local).length === 0;
  return ssStatesFor(table, local, peer).includes(column);
}

interface FactoryLine {
  readonly state?: string;
  readonly role?: 'client' | 'server';
  readonly local?: Endpoint;
  readonly peer?: Endpoint;
  readonly pid?: number;
  readonly error?: string;
}

/**
 * Produces `state` (see the file comment) and resolves once `ss` in the namespace shows it.
 * If anything fails on the way, the child and the namespace are cleaned up before it rejects.
 */
export async function produceState(state: TcpState, options: ProduceStateOptions = {}): Promise<ProducedState> {
  if (!Object.values(TcpState).includes(state)) throw new TypeError(`produceState: unknown state ${JSON.stringify(state)}`);
  const family = options.family ?? 4;
  const ports = options.ports ?? randomPorts();
  const timeoutMs = options.timeoutMs ?? 10_000;
  const startedAt = Date.now();

  const netns = await createNetns();
  let child: Awaited<ReturnType<typeof spawnFactory>> | undefined;
  let disposing: Promise<void> | undefined;
  const dispose = () =>
    (disposing ??= (async () => {
      try {
        if (child) await stopChild(child);
      } finally {
        await netns.dispose();
      }
    })());

  try {
    const rules = rulesFor(state, ports);
    if (rules !== undefined) await netns.applyRuleset(rules);
    child = await spawnFactory(netns, state, family, ports, timeoutMs);
    const line = await firstLine(child, timeoutMs);
    if (line.error !== undefined) throw new Error(`state-factory could not produce ${state}: ${line.error}`);
    const { local, peer, pid, role } = line;
    if (!local || !peer || typeof pid !== 'number' || (role !== 'client' && role !== 'server')) {
      throw new Error(`state-factory printed an unexpected line: ${JSON.stringify(line)}`);
    }
    const readTable = async () => (await runInNetns(netns.name, 'ss', ['-tanieoH'])).stdout;

    // The script already saw the state in /proc/net/tcp; wait for `ss` to agree too.
    let table = '';
    for (;;) {
      table = await readTable();
      if (tableShows(table, state, local, peer)) break;
      if (Date.now() - startedAt > timeoutMs) {
        throw new Error(`ss in ${netns.name} never showed ${state} for ${formatSsEndpoint(local)} -> ${formatSsEndpoint(peer)}:\n${table}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }

    return {
      state,
      family,
      netns: netns.name,
      pid,
      role,
      local,
      peer,
      ports,
      readTable,
      procNetDir: `/proc/${pid}/net`,
      dispose,
    };
  } catch (error) {
    const stderr = child ? child.stderrText() : '';
    await dispose().catch(() => undefined);
    if (stderr && error instanceof Error) error.message += `\nstate-factory stderr:\n${stderr}`;
    throw error;
  }
}

async function spawnFactory(netns: Netns, state: TcpState, family: 4 | 6, ports: StatePorts, timeoutMs: number) {
  const execa = await loadExeca();
  const subprocess = execa(
    'ip',
    [
      'netns',
      'exec',
      netns.name,
      process.execPath,
      STATE_FACTORY_SCRIPT,
      state,
      '--server-port',
      String(ports.server),
      '--client-port',
      String(ports.client),
      '--family',
      String(family),
      '--timeout-ms',
      String(timeoutMs),
    ],
    { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', buffer: false, reject: false, shell: false, env: { LC_ALL: 'C' } },
  );
  let stderr = '';
  subprocess.stderr.setEncoding('utf8');
  subprocess.stderr.on('data', (chunk: string) => {
    if (stderr.length < 64 * 1024) stderr += chunk;
  });
  // stdin is only closed to tell the child to exit; a closed pipe on the other side is fine.
  subprocess.stdin.on('error', () => undefined);
  const exited = subprocess.then((result) => result);
  return { subprocess, exited, stderrText: () => stderr };
}

async function firstLine(child: Awaited<ReturnType<typeof spawnFactory>>, timeoutMs: number): Promise<FactoryLine> {
  const lines = createInterface({ input: child.subprocess.stdout });
  let timer: NodeJS.Timeout | undefined;
  try {
    // Only the winner is looked at, and none of these rejects: nothing is left unhandled.
    const outcome = await Promise.race([
      once(lines, 'line').then(([text]) => ({ line: String(text) })),
      child.exited.then((result) => ({ failure: `state-factory exited (${result.exitCode ?? result.signal}) before printing its state` })),
      new Promise<{ failure: string }>((resolve) => {
        timer = setTimeout(() => resolve({ failure: `state-factory printed nothing within ${timeoutMs} ms` }), timeoutMs + 2000);
      }),
    ]);
    if ('failure' in outcome) throw new Error(outcome.failure);
    const { line } = outcome;
    try {
      return JSON.parse(line) as FactoryLine;
    } catch {
      throw new Error(`state-factory printed a line that is not JSON: ${line}`);
    }
  } finally {
    clearTimeout(timer);
    lines.close();
    // Keep draining stdout so a chatty child never blocks on a full pipe.
    child.subprocess.stdout.resume();
  }
}

/** Closes the child's stdin (its signal to exit), then SIGTERM after 2 s, then SIGKILL after 1 s more. */
async function stopChild(child: Awaited<ReturnType<typeof spawnFactory>>): Promise<void> {
  const { subprocess, exited } = child;
  if (subprocess.exitCode !== null || subprocess.signalCode !== null) return;
  subprocess.stdin.end();
  const waitFor = (ms: number) => Promise.race([exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms).unref())]);
  if (await waitFor(2000)) return;
  subprocess.kill('SIGTERM');
  if (await waitFor(1000)) return;
  subprocess.kill('SIGKILL');
  await waitFor(1000);
}
