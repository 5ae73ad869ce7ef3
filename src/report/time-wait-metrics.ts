import type { Attributes, Meter, ObservableResult } from '@opentelemetry/api';
import type { TimeWaitCount } from '../detect/time-wait-finding.js';
import { ATTR } from './attributes.js';
import type { Providers } from './providers.js';

/**
 * The TIME_WAIT counts of the latest poll that counted them, as gauges: per listening port
 * (server side) and per destination (client side), and each destination's share of the
 * ephemeral range. A poll that did not count (fewer TIME_WAIT sockets in the namespace than
 * the threshold, or no kernel source) leaves the last counts in place, for as long as the port
 * listens or the destination is remembered.
 */
export function bindTimeWaitMetrics(providers: Providers, counts: () => readonly TimeWaitCount[], redactPeerAddresses = false): void {
  providers.bindMeter((meter) => bind(meter, counts, redactPeerAddresses));
}

/** Makes the gauges on `meter`; returns what removes their callbacks. */
function bind(meter: Meter, counts: () => readonly TimeWaitCount[], redact: boolean): () => void {
  const count = meter.createObservableGauge('tcp.time_wait.count', {
    description:
      'TIME_WAIT sockets on a listening port of this process (server side) or towards a destination it connects to (client side), at the last poll that counted them.',
    unit: '{socket}',
  });
  const utilization = meter.createObservableGauge('tcp.ephemeral_ports.utilization', {
    description: 'Share of the ephemeral port range in use towards a destination: its TIME_WAIT sockets plus the open connections, over the range.',
    unit: '1',
  });
  const observeCount = (result: ObservableResult): void => {
    for (const c of counts()) result.observe(c.count, countAttributes(c, redact));
  };
  const observeUtilization = (result: ObservableResult): void => {
    for (const c of counts()) {
      if (c.side !== 'client' || c.utilization === undefined) continue;
      result.observe(c.utilization, destinationAttributes(c.destination, redact));
    }
  };
  count.addCallback(observeCount);
  utilization.addCallback(observeUtilization);
  return () => {
    count.removeCallback(observeCount);
    utilization.removeCallback(observeUtilization);
  };
}

/** A destination as metric attributes; its address left out under `redactPeerAddresses`. */
function destinationAttributes(destination: { readonly address: string; readonly port: number }, redact: boolean): Attributes {
  return redact ? { [ATTR.serverPort]: destination.port } : { [ATTR.serverAddress]: destination.address, [ATTR.serverPort]: destination.port };
}

function countAttributes(c: TimeWaitCount, redact: boolean): Attributes {
  if (c.side === 'client') return { [ATTR.socketSide]: 'client', ...destinationAttributes(c.destination, redact) };
  const attributes: Attributes = { [ATTR.socketSide]: 'server', [ATTR.serverPort]: c.port };
  if (c.sharedListener) attributes[ATTR.listenerShared] = true;
  return attributes;
}
