import type { Attributes, Histogram, Meter, ObservableResult } from '@opentelemetry/api';
import type { Connection } from '../model/connection.js';
import type { PoolConnectionCount } from '../model/pool-connections.js';
import { ATTR } from './attributes.js';
import { CONNECTION_DURATION_BUCKETS } from './connection-metrics.js';
import type { Providers } from './providers.js';

/** Requests a pooled connection carries, from one (no reuse) to thousands. */
export const REQUESTS_PER_CONNECTION_BUCKETS: readonly number[] = Object.freeze([1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000]);

const CONNECTION_STATE = 'http.connection.state';
/** Destinations whose attributes are kept for reuse; beyond, the cache starts again. */
const MAX_CACHED = 256;
const NETWORK_PROTOCOL_VERSION = 'network.protocol.version';

/**
 * The HTTP client pools as .NET and the semantic conventions name them:
 * `http.client.open_connections` (active or idle, per destination, read at collection),
 * `http.client.connection.duration`, and `nodejs.http.client.requests_per_connection` (its count is
 * the connections a pool opened and closed, its sum their requests: the reuse ratio), for
 * `http.Agent` and undici pools alike. Recorded at a connection's close, never per request.
 */
export class PoolMetrics {
  private connectionDuration: Histogram | undefined;
  private requestsPerConnection: Histogram | undefined;
  /** Series observed at the last collection: one that empties says 0 once (a backend keeps a series' last value). */
  private lastSeries = new Map<string, Attributes>();

  constructor(
    providers: Providers,
    /** Open HTTP client connections by destination, read when metrics are collected. */
    private readonly openConnections: () => Iterable<PoolConnectionCount>,
    /** Leave the destination's address out (`redactPeerAddresses`): the port stays. */
    private readonly redactPeerAddresses = false,
  ) {
    providers.bindMeter((meter) => this.bind(meter));
  }

  /** A connection closed at `end`: an HTTP client connection's pool life is recorded. */
  connectionClosed(c: Connection, end: number): void {
    const h = c.http;
    if (h === undefined || c.side !== 'client') return;
    const attributes = this.closedAttributes(this.redactPeerAddresses ? undefined : (c.target?.host ?? c.peer?.address), c.target?.port ?? c.peer?.port);
    this.connectionDuration?.record(Math.max(0, end - c.createdAt) / 1000, attributes);
    this.requestsPerConnection?.record(h.requests, attributes);
  }

  /** One frozen attributes object per destination (at most `MAX_CACHED`), not one per closed connection. */
  private readonly byDestination = new Map<string, Attributes>();

  private closedAttributes(host: string | undefined, port: number | undefined): Attributes {
    const key = `${host ?? ''} ${port ?? ''}`;
    let attributes = this.byDestination.get(key);
    if (attributes === undefined) {
      if (this.byDestination.size >= MAX_CACHED) this.byDestination.clear();
      attributes = Object.freeze(destinationAttributes(host, port));
      this.byDestination.set(key, attributes);
    }
    return attributes;
  }

  private bind(meter: Meter): () => void {
    this.connectionDuration = meter.createHistogram('http.client.connection.duration', {
      description: 'The duration of the HTTP client pools’ connections, from connect() to close.',
      unit: 's',
      advice: { explicitBucketBoundaries: [...CONNECTION_DURATION_BUCKETS] },
    });
    this.requestsPerConnection = meter.createHistogram('nodejs.http.client.requests_per_connection', {
      description: 'Requests each HTTP client connection carried, recorded at its close: sum / count is the pool’s reuse ratio.',
      unit: '{request}',
      advice: { explicitBucketBoundaries: [...REQUESTS_PER_CONNECTION_BUCKETS] },
    });
    const open = meter.createObservableUpDownCounter('http.client.open_connections', {
      description: 'Open HTTP client connections of the pools, active (a request in flight) or idle.',
      unit: '{connection}',
    });
    const observe = (result: ObservableResult): void => {
      const series = new Map<string, Attributes>();
      const observed = new Set<string>();
      for (const count of this.openConnections()) {
        for (const state of ['active', 'idle'] as const) {
          const value = state === 'active' ? count.active : count.idle;
          const key = `${state} ${count.host ?? ''} ${count.port ?? ''}`;
          if (value === 0 && !this.lastSeries.has(key)) continue;
          const attributes = { ...destinationAttributes(this.redactPeerAddresses ? undefined : count.host, count.port), [CONNECTION_STATE]: state };
          result.observe(value, attributes);
          observed.add(key);
          if (value > 0) series.set(key, attributes);
        }
      }
      for (const [key, attributes] of this.lastSeries) if (!observed.has(key)) result.observe(0, attributes);
      this.lastSeries = series;
    };
    open.addCallback(observe);
    return () => open.removeCallback(observe);
  }
}

function destinationAttributes(host: string | undefined, port: number | undefined): Attributes {
  const attributes: Attributes = { [NETWORK_PROTOCOL_VERSION]: '1.1' };
  if (host !== undefined) attributes[ATTR.serverAddress] = host;
  if (port !== undefined) attributes[ATTR.serverPort] = port;
  return attributes;
}
