import type { Attributes, Meter, ObservableResult } from '@opentelemetry/api';
import type { TimeWaitCount } from '../detect/time-wait.js';
import { ATTR } from './attributes.js';
import type { Providers } from './providers.js';

/**
 * The TIME_WAIT counts of the latest poll that counted them, as gauges: per listening port
 * (server side) and per destination (client side), and each destination's share of the
 * ephemeral range. A poll that did not count (fewer TIME_WAIT sockets in the namespace than
 * the threshold, or no kernel source) leaves the last counts in place, for as long as the port
 * listens or the destination is remembered.
 */
export function bindTimeWaitMetrics(providers: Providers, counts: () => readonly TimeWaitCount[]): void {
  providers.bindMeter((meter) => bind(meter, counts));
}

/** Makes the gauges on `meter`; returns what removes their callbacks. */
function bind(meter: Meter, counts: () => readonly TimeWaitCount[]): () => void {
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
    for (const c of counts()) result.observe(c.count, countAttributes(c));
  };
  const observeUtilization = (result: ObservableResult): void => {
    for (const c of counts()) {
      if (c.side !== 'client' || c.utilization === undefined) continue;
      result.observe(c.utilization, { [ATTR.serverAddress]: c.destination.address, [ATTR.serverPort]: c.destination.port });
    }
  };
  count.addCallback(observeCount);
  utilization.addCallback(observeUtilization);
  return () => {
    count.removeCallback(observeCount);
    utilization.removeCallback(observeUtilization);
  };
}

function countAttributes(c: TimeWaitCount): Attributes {
  if (c.side === 'client') {
    return { [ATTR.socketSide]: 'client', [ATTR.serverAddress]: c.destination.address, [ATTR.serverPort]: c.destination.port };
  }
  const attributes: Attributes = { [ATTR.socketSide]: 'server', [ATTR.serverPort]: c.port };
  if (c.sharedListener) attributes[ATTR.listenerShared] = true;
  return attributes;
}
