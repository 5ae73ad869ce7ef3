import type { Attributes } from '@opentelemetry/api';
import type { ListenPressure } from '../detect/listen-pressure.js';
import { ATTR } from './attributes.js';

/** The kernel's listen counters cover the whole network namespace, never one socket. */
export const COUNTERS_SCOPE = 'namespace';

/** `tcp.listener.shared` = true in a `cluster` worker (workers see the same figures for a port); absent elsewhere. */
export function sharedAttribute(shared: boolean): Attributes {
  return shared ? { [ATTR.listenerShared]: true } : {};
}

/** One listener of this process: `server.address` and `server.port`, with the shared mark. */
export function listenerAttributes(address: string, port: number, shared: boolean): Attributes {
  return { [ATTR.serverAddress]: address, [ATTR.serverPort]: port, ...sharedAttribute(shared) };
}

/** Figures taken from the namespace's counters: their scope, with the shared mark. */
export function namespaceCounterAttributes(shared: boolean): Attributes {
  return { [ATTR.listenCountersScope]: COUNTERS_SCOPE, ...sharedAttribute(shared) };
}

/** Attributes of a `tcp.listen.pressure` span. */
export function listenPressureAttributes(p: ListenPressure): Attributes {
  const attributes: Attributes = {
    [ATTR.networkTransport]: 'tcp',
    [ATTR.listenPressureReasons]: [...p.reasons],
    [ATTR.listenPorts]: [...p.ports],
    ...sharedAttribute(p.shared),
  };
  const l = p.listener;
  if (l !== undefined) {
    attributes[ATTR.serverAddress] = l.address;
    attributes[ATTR.serverPort] = l.port;
    if (l.synReceived !== undefined) attributes[ATTR.listenSynReceived] = l.synReceived;
    if (l.acceptQueue !== undefined) attributes[ATTR.listenAcceptQueue] = l.acceptQueue;
    if (l.backlog !== undefined) attributes[ATTR.listenBacklog] = l.backlog;
  }
  if (p.overflows !== undefined || p.drops !== undefined) {
    attributes[ATTR.listenCountersScope] = COUNTERS_SCOPE;
    if (p.overflows !== undefined) attributes[ATTR.listenOverflows] = p.overflows;
    if (p.drops !== undefined) attributes[ATTR.listenDrops] = p.drops;
  }
  if (p.stallMs !== undefined) attributes[ATTR.eventLoopStallDuration] = p.stallMs / 1000;
  return attributes;
}

/** The span's status message: what is wrong, in words. */
export function listenPressureMessage(p: ListenPressure): string {
  const l = p.listener;
  const where = l === undefined ? `ports ${p.ports.join(', ')} (counted for the whole network namespace)` : hostPort(l.address, l.port);
  const parts: string[] = [];
  for (const reason of p.reasons) {
    switch (reason) {
      case 'syn_received':
        parts.push(`${l?.synReceived ?? 0} connections in SYN_RECEIVED (threshold ${p.synReceivedThreshold})`);
        break;
      case 'accept_queue':
        parts.push(`accept queue ${l?.acceptQueue ?? 0} of ${l?.backlog ?? 0}`);
        break;
      case 'overflow':
        parts.push(`${p.overflows ?? 0} listen overflows`);
        break;
      case 'drop':
        parts.push(`${p.drops ?? 0} listen drops`);
        break;
    }
  }
  if (p.stallMs !== undefined) parts.push(`event loop stalled ${(p.stallMs / 1000).toFixed(2)} s`);
  return `listen pressure on ${where}: ${parts.join(', ')}`;
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
