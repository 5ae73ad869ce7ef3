import type { ConnectionModel } from '../model/connection-model.js';
import type { ListeningSockets } from '../model/listening-sockets.js';
import { listenerCovers } from '../observe/kernel/address.js';
import type { KernelSocketRow } from '../observe/kernel/rows.js';
import type { KernelNeed } from '../observe/kernel/query.js';
import { TcpState } from '../tcp-states.js';
import { RecentDestinations, type Destination, type DestinationEntry } from './destinations.js';
import type { Detector, PollContext } from './detector.js';
import type { PeerCount, TimeWaitAccumulation, TimeWaitCount } from './time-wait-finding.js';

export type { ClientTimeWait, PeerCount, ServerTimeWait, TimeWaitAccumulation, TimeWaitCount } from './time-wait-finding.js';
import { keepSample, rangeSize, secondsToExhaustion, utilization, type PortUseSample } from './port-exhaustion.js';
import type { MeasurementSink } from './measurement.js';
import type { KernelSnapshot, SnapshotTimeWait } from './snapshot.js';
import { DEFAULT_REPEAT_MS, ThresholdAlerts } from './threshold-alerts.js';
import { byDestination, byListeningPort, splitTimeWait } from './time-wait-rules.js';

export interface TimeWaitDetectorOptions {
  /** TIME_WAIT sockets on one port, or towards one destination, at which it is reported. */
  readonly threshold: number;
  /** Reported at most once per this interval while it stays above. Default `DEFAULT_REPEAT_MS` (60 s: one TIME_WAIT lifetime on Linux). */
  readonly repeatIntervalMs?: number;
  /** True in a cluster worker, whose listening sockets the workers share. */
  readonly sharedListeners?: boolean;
  /** Where the counts go (the metrics) each time they change. */
  readonly measurements?: MeasurementSink;
}

/** Peers named on a server-side report. */
export const MAX_TOP_PEERS = 5;

const TIME_WAIT: readonly TcpState[] = [TcpState.TimeWait];

/** This process's listeners on one port (their addresses: a wildcard covers every address). */
type ListeningPort = readonly { readonly address: string; readonly port: number }[];

/** What a poll's need asked for, kept until its rows come back. */
interface Asked {
  readonly servers: ReadonlyMap<number, ListeningPort>;
  readonly destinations: ReadonlyMap<number, ReadonlyMap<string, DestinationEntry>>;
  readonly hostCount: number;
  readonly rangeSize: number | undefined;
}

/**
 * Finds TIME_WAIT sockets piling up on either side of this process's connections: on its
 * listening ports (it closes accepted connections first) and towards the destinations it
 * connects to (it closes its client connections first). Counted per port or destination
 * from kernel rows (TIME_WAIT sockets belong to no process: the port, or the peer address
 * and port, ties them to this one).
 *
 * Cheap by construction: the kernel's counters (a file read) say how many TIME_WAIT sockets
 * the network namespace holds; while that is below the threshold no port can reach it and
 * nothing is listed. Above it, one query filtered in the kernel to TIME_WAIT on these ports.
 */
export class TimeWaitDetector implements Detector {
  readonly name = 'time_wait_accumulation';
  private readonly threshold: number;
  private readonly sharedListeners: boolean;
  private readonly destinations = new RecentDestinations();
  private readonly alerts: ThresholdAlerts;
  private asked: Asked | undefined;
  /** Each counted destination's port use at the last polls that counted it, oldest first (for the growth rate). */
  private samples = new Map<string, PortUseSample[]>();
  private lastCounts: readonly TimeWaitCount[] = [];
  private readonly measurements: MeasurementSink | undefined;

  constructor(options: TimeWaitDetectorOptions) {
    this.threshold = options.threshold;
    this.sharedListeners = options.sharedListeners ?? false;
    this.measurements = options.measurements;
    this.alerts = new ThresholdAlerts(options.threshold, options.repeatIntervalMs ?? DEFAULT_REPEAT_MS);
  }

  /**
   * Each port's and destination's count at the last poll that counted it. A poll counts only
   * while the namespace holds at least the threshold; between such polls the last counts stay,
   * for the ports still listened on and the destinations still remembered.
   */
  counts(): readonly TimeWaitCount[] {
    return this.lastCounts;
  }

  /** Learns where this process connects, on every tick, even while a kernel read is out. */
  fromEvents(context: Omit<PollContext, 'counters'>): TimeWaitAccumulation[] {
    this.destinations.learn(context.model, context.time);
    return [];
  }

  wantsCounters(context: Omit<PollContext, 'counters'>): boolean {
    return this.destinations.size > 0 || context.listeners.all().length > 0;
  }

  need(context: PollContext): KernelNeed | undefined {
    this.asked = undefined;
    const hostCount = context.counters?.timeWaitNow;
    // Fewer in the whole namespace than the threshold: no port can have that many.
    if (hostCount === undefined || hostCount < this.threshold) return undefined;
    const servers = listeningPorts(context.listeners);
    const destinations = new Map<number, Map<string, DestinationEntry>>();
    for (const entry of this.destinations.entries()) {
      let byAddress = destinations.get(entry.port);
      if (byAddress === undefined) destinations.set(entry.port, (byAddress = new Map()));
      byAddress.set(entry.address, entry);
    }
    if (servers.size === 0 && destinations.size === 0) return undefined;
    const range = context.counters?.ephemeralPortRange;
    this.asked = { servers, destinations, hostCount, rangeSize: range === undefined ? undefined : rangeSize(range) };
    // Never both port lists absent: that would ask for every TIME_WAIT socket.
    return {
      states: TIME_WAIT,
      ...(servers.size > 0 ? { localPorts: [...servers.keys()] } : {}),
      ...(destinations.size > 0 ? { peerPorts: [...destinations.keys()] } : {}),
    };
  }

  fromKernel(context: PollContext, rows: readonly KernelSocketRow[] | undefined): TimeWaitAccumulation[] {
    const asked = this.asked;
    this.asked = undefined;
    if (asked !== undefined && rows !== undefined) return this.count(asked, rows, context.time, context.model);
    this.keepLiveCounts(context.listeners);
    if (asked === undefined) {
      // The namespace holds fewer than the threshold: every count is below it.
      this.samples.clear();
      this.alerts.endPoll(context.time);
    }
    // A failed read: nothing is known this poll, and what the alerts remember stays.
    return [];
  }

  /**
   * TIME_WAIT at the threshold towards one destination (client side, with the share of the
   * ephemeral range its local ports take) or on one listening port (server side), most first.
   */
  fromSnapshot(snapshot: KernelSnapshot): SnapshotTimeWait[] {
    const { client, server } = splitTimeWait(snapshot.rows);
    const found: SnapshotTimeWait[] = [];
    for (const g of byDestination(client, snapshot.portRange)) {
      if (g.count < this.threshold) continue;
      found.push({ type: 'time_wait_accumulation', side: 'client', ...g, threshold: this.threshold });
    }
    for (const g of byListeningPort(server)) {
      if (g.count < this.threshold) continue;
      found.push({ type: 'time_wait_accumulation', side: 'server', ...g, threshold: this.threshold });
    }
    return found;
  }

  private setCounts(counts: readonly TimeWaitCount[]): void {
    this.lastCounts = counts;
    this.measurements?.record({ kind: 'time_wait', counts });
  }

  /** Drops the last counts of ports no longer listened on and destinations forgotten. */
  private keepLiveCounts(listeners: ListeningSockets): void {
    if (this.lastCounts.length === 0) return;
    const ports = new Set(listeners.ports());
    const live = this.lastCounts.filter((c) =>
      c.side === 'server' ? ports.has(c.port) : this.destinations.get(c.destination.address, c.destination.port) !== undefined,
    );
    if (live.length !== this.lastCounts.length) this.setCounts(live);
  }

  private count(asked: Asked, rows: readonly KernelSocketRow[], time: number, model: ConnectionModel): TimeWaitAccumulation[] {
    const { servers, clients } = tally(asked, rows);
    const findings: TimeWaitAccumulation[] = [];
    const counts: TimeWaitCount[] = [];
    const common = {
      type: 'time_wait_accumulation',
      threshold: this.threshold,
      detectedAt: time,
      hostCount: asked.hostCount,
      ephemeralPortRange: asked.rangeSize,
    } as const;
    for (const [port, count] of servers) {
      counts.push({ side: 'server', port, count, sharedListener: this.sharedListeners });
      const since = this.alerts.observe(`server ${port}`, count, time);
      if (since === undefined) continue;
      // Peers are counted only for a report (at most once a minute a port), not on every poll.
      const peers = topPeers(peersOn(rows, port, asked.servers.get(port)));
      findings.push({ ...common, side: 'server', port, count, since, topPeers: peers, sharedListener: this.sharedListeners });
    }
    const samples = new Map<string, PortUseSample[]>();
    for (const byAddress of asked.destinations.values()) {
      for (const entry of byAddress.values()) {
        const count = clients.get(entry) ?? 0;
        // Its TIME_WAIT sockets keep a destination remembered after its last connection closed.
        if (count > 0) this.destinations.touch(entry.address, entry.port, time);
        const destination: Destination = { address: entry.address, port: entry.port };
        const key = `client ${entry.address} ${entry.port}`;
        const sample: PortUseSample = { time, used: count + entry.open };
        const kept = this.samples.get(key) ?? [];
        const oldest = keepSample(kept, sample);
        samples.set(key, kept);
        const share = asked.rangeSize === undefined ? undefined : utilization(sample.used, asked.rangeSize);
        counts.push({ side: 'client', destination, count, utilization: share });
        const since = this.alerts.observe(key, count, time);
        if (since === undefined) continue;
        findings.push({
          ...common,
          side: 'client',
          destination,
          count,
          since,
          openConnections: entry.open,
          utilization: share,
          secondsToExhaustion: asked.rangeSize === undefined ? undefined : secondsToExhaustion(oldest, sample, asked.rangeSize),
          requestsPerConnection: requestsPerConnection(model, destination),
        });
      }
    }
    this.samples = samples;
    this.setCounts(counts);
    this.alerts.endPoll(time);
    return findings;
  }
}

/** One poll's TIME_WAIT rows, per listening port and per destination. */
interface Tally {
  readonly servers: Map<number, number>;
  readonly clients: Map<DestinationEntry, number>;
}

/**
 * Counts the rows: on a listening port (and one of its addresses, unless it listens on every
 * address) they are server side; else towards a destination (peer address and port) client side.
 */
function tally(asked: Asked, rows: readonly KernelSocketRow[]): Tally {
  const servers: Tally['servers'] = new Map();
  for (const port of asked.servers.keys()) servers.set(port, 0);
  const clients: Tally['clients'] = new Map();
  for (const row of rows) {
    if (row.state !== TcpState.TimeWait) continue;
    if (isOnListener(row, asked.servers.get(row.local.port))) {
      servers.set(row.local.port, (servers.get(row.local.port) ?? 0) + 1);
      continue;
    }
    const destination = asked.destinations.get(row.peer.port)?.get(row.peer.address);
    if (destination !== undefined) clients.set(destination, (clients.get(destination) ?? 0) + 1);
  }
  return { servers, clients };
}

function isOnListener(row: KernelSocketRow, listening: ListeningPort | undefined): boolean {
  return listening !== undefined && listening.some((l) => listenerCovers(l, row.local));
}

/** The TIME_WAIT sockets on one listening port, by peer address. */
function peersOn(rows: readonly KernelSocketRow[], port: number, listening: ListeningPort | undefined): Map<string, number> {
  const peers = new Map<string, number>();
  for (const row of rows) {
    if (row.state !== TcpState.TimeWait || row.local.port !== port || !isOnListener(row, listening)) continue;
    peers.set(row.peer.address, (peers.get(row.peer.address) ?? 0) + 1);
  }
  return peers;
}

/** This process's listening ports, each with its listeners. */
function listeningPorts(listeners: ListeningSockets): Map<number, ListeningPort> {
  const ports = new Map<number, { address: string; port: number }[]>();
  for (const socket of listeners.all()) {
    const same = ports.get(socket.port);
    const listener = { address: socket.address, port: socket.port };
    if (same === undefined) ports.set(socket.port, [listener]);
    else same.push(listener);
  }
  return ports;
}

/** The peers with the most sockets, most first (ties by address), at most `MAX_TOP_PEERS`. */
export function topPeers(peers: ReadonlyMap<string, number>): PeerCount[] {
  const top: PeerCount[] = [];
  for (const [address, count] of peers) {
    if (top.length === MAX_TOP_PEERS && !before({ address, count }, top[MAX_TOP_PEERS - 1] as PeerCount)) continue;
    let i = top.length;
    while (i > 0 && before({ address, count }, top[i - 1] as PeerCount)) i--;
    top.splice(i, 0, { address, count });
    if (top.length > MAX_TOP_PEERS) top.pop();
  }
  return top;
}

function before(a: PeerCount, b: PeerCount): boolean {
  return a.count > b.count || (a.count === b.count && a.address < b.address);
}

/** Connections a destination's HTTP pool must have closed before its reuse ratio is told. */
export const MIN_POOL_CONNECTIONS = 10;

/** Requests per closed connection of this process's HTTP clients towards `destination`, when enough closed to tell. */
function requestsPerConnection(model: ConnectionModel, destination: Destination): number | undefined {
  const pool = model.poolDestination(destination.address, destination.port);
  if (pool === undefined || pool.connections < MIN_POOL_CONNECTIONS) return undefined;
  return pool.requests / pool.connections;
}
