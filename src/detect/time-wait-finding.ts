import type { Destination } from './destinations.js';

/** A peer address and how many TIME_WAIT sockets towards it sit on a listening port. */
export interface PeerCount {
  readonly address: string;
  readonly count: number;
}

interface TimeWaitCommon {
  readonly type: 'time_wait_accumulation';
  /** TIME_WAIT sockets counted on the port or towards the destination. */
  readonly count: number;
  readonly threshold: number;
  /** Epoch ms of the poll at which the count reached the threshold (this stretch above it). */
  readonly since: number;
  readonly detectedAt: number;
  /** TIME_WAIT sockets in the whole network namespace (`/proc/net/sockstat` `tw`). */
  readonly hostCount: number;
  /** Ports in the ephemeral range (`ip_local_port_range`: high − low + 1), when readable. */
  readonly ephemeralPortRange: number | undefined;
}

/** TIME_WAIT on a port this process listens on: it closed those connections first. */
export interface ServerTimeWait extends TimeWaitCommon {
  readonly side: 'server';
  readonly port: number;
  /** The peers holding the most of them, most first (at most `MAX_TOP_PEERS`). */
  readonly topPeers: readonly PeerCount[];
  /** True in a cluster worker: the workers share the listening socket and count the same sockets. */
  readonly sharedListener: boolean;
}

/** TIME_WAIT towards a destination this process connects to: it closed those connections first. */
export interface ClientTimeWait extends TimeWaitCommon {
  readonly side: 'client';
  readonly destination: Destination;
  /** This process's open connections towards the destination. */
  readonly openConnections: number;
  /** (TIME_WAIT + open connections) / range, 0..1, when the range is known. */
  readonly utilization: number | undefined;
  /** Seconds left before the range is used up at the rate the use grew over the last few polls (`keepSample`); only while it grows. */
  readonly secondsToExhaustion: number | undefined;
  /** Requests per connection this process's HTTP clients carried towards it (the reuse ratio), when enough closed to tell. */
  readonly requestsPerConnection?: number | undefined;
}

/** Sockets piling up in TIME_WAIT on one side of this process's connections. */
export type TimeWaitAccumulation = ServerTimeWait | ClientTimeWait;

/** One poll's count for one port or destination, for the metrics. */
export type TimeWaitCount =
  | { readonly side: 'server'; readonly port: number; readonly count: number; readonly sharedListener: boolean }
  | { readonly side: 'client'; readonly destination: Destination; readonly count: number; readonly utilization: number | undefined };
