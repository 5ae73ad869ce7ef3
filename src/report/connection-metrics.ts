import type { Attributes, Histogram, Meter, ObservableResult } from '@opentelemetry/api';
import type { CloseReason, Connection } from '../model/connection.js';
import type { HttpCloseReason } from '../model/http-activity.js';
import type { TcpState } from '../tcp-states.js';
import { ATTR, errorType } from './attributes.js';
import type { Providers } from './providers.js';

/**
 * Bucket boundaries in seconds, given as advice to the SDK (whose default boundaries, 0 to
 * 10000, suit milliseconds and would put nearly every connection in the first bucket). A
 * connection lives from milliseconds (a request each) to hours (a pool): the boundaries the
 * semantic conventions advise for `http.client.connection.duration`.
 */
export const CONNECTION_DURATION_BUCKETS: readonly number[] = Object.freeze([0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300]);
/** A handshake takes a round trip or a DNS lookup plus one: the boundaries advised for request durations. */
export const HANDSHAKE_DURATION_BUCKETS: readonly number[] = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]);

/**
 * The connection metrics: `tcp.connection.duration` and `tcp.handshake.duration` for every
 * connection, recorded or not, and `tcp.connection.count` by state, read at collection.
 * Instruments are made again on every new meter.
 */
export class ConnectionMetrics {
  private connectionDuration: Histogram | undefined;
  private handshakeDuration: Histogram | undefined;

  constructor(
    providers: Providers,
    /** Live connection counts by state, read when metrics are collected. */
    private readonly stateCounts: () => ReadonlyMap<TcpState, number>,
  ) {
    providers.bindMeter((meter) => this.bind(meter));
  }

  /** A client's handshake ended: at `end`, with `error` when it failed. */
  handshakeEnded(c: Connection, end: number, error: Error | undefined): void {
    this.handshakeDuration?.record(Math.max(0, end - c.createdAt) / 1000, handshakeAttributes(error));
  }

  /** A connection closed at `end`. */
  connectionClosed(c: Connection, end: number): void {
    this.connectionDuration?.record(Math.max(0, end - c.createdAt) / 1000, durationAttributes(c.side, c.closeReason, c.http?.closeReason));
  }

  private bind(meter: Meter): () => void {
    this.connectionDuration = meter.createHistogram('tcp.connection.duration', {
      description: 'Time from connect()/accept to close of TCP connections.',
      unit: 's',
      // Advice is read by SDKs of API 1.7 and later; an older one ignores it.
      advice: { explicitBucketBoundaries: [...CONNECTION_DURATION_BUCKETS] },
    });
    this.handshakeDuration = meter.createHistogram('tcp.handshake.duration', {
      description: 'Time from connect() to the end of the client handshake (DNS lookup included), or to its failure.',
      unit: 's',
      advice: { explicitBucketBoundaries: [...HANDSHAKE_DURATION_BUCKETS] },
    });
    const connectionCount = meter.createObservableUpDownCounter('tcp.connection.count', {
      description: 'Open TCP connections of this process, by state.',
      unit: '{connection}',
    });
    const stateCounts = this.stateCounts;
    const observe = (result: ObservableResult): void => {
      for (const [state, count] of stateCounts()) result.observe(count, { [ATTR.connectionState]: state });
    };
    connectionCount.addCallback(observe);
    return () => connectionCount.removeCallback(observe);
  }
}

const HANDSHAKE_OK: Attributes = Object.freeze({ [ATTR.networkTransport]: 'tcp' });

function handshakeAttributes(error: Error | undefined): Attributes {
  return error === undefined ? HANDSHAKE_OK : { [ATTR.networkTransport]: 'tcp', [ATTR.errorType]: errorType(error) };
}

/**
 * The attributes of `tcp.connection.duration`, one frozen object per side and close reason
 * (the metrics SDK reads them and keeps none it did not copy): none made per connection.
 */
const DURATION_ATTRIBUTES: Readonly<Record<Connection['side'], Map<string, Attributes>>> = { client: new Map(), server: new Map() };
function durationAttributes(side: Connection['side'], reason: CloseReason | undefined, httpReason: HttpCloseReason | undefined): Attributes {
  const bySide = DURATION_ATTRIBUTES[side];
  const key = httpReason === undefined ? (reason ?? '') : `${reason ?? ''}/${httpReason}`;
  let attributes = bySide.get(key);
  if (attributes === undefined) {
    const made: Attributes = { [ATTR.networkTransport]: 'tcp', [ATTR.socketSide]: side };
    if (reason !== undefined) made[ATTR.closeReason] = reason;
    // How an HTTP client connection's pool life ended (`HTTP_CLOSE_REASONS`).
    if (httpReason !== undefined) made[ATTR.errorType] = httpReason;
    attributes = Object.freeze(made);
    bySide.set(key, attributes);
  }
  return attributes;
}
