import type { Attributes } from '@opentelemetry/api';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_CLIENT_PORT,
  ATTR_CODE_COLUMN_NUMBER,
  ATTR_CODE_FILE_PATH,
  ATTR_CODE_FUNCTION_NAME,
  ATTR_CODE_LINE_NUMBER,
  ATTR_CODE_STACKTRACE,
  ATTR_ERROR_TYPE,
  ATTR_NETWORK_LOCAL_ADDRESS,
  ATTR_NETWORK_LOCAL_PORT,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_NETWORK_TRANSPORT,
  ATTR_NETWORK_TYPE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
} from '@opentelemetry/semantic-conventions';
import type { CloseWaitLeak } from '../detect/close-wait-leak.js';
import type { HalfCloseStuck } from '../detect/half-close-stuck.js';
import type { TimeWaitAccumulation } from '../detect/time-wait.js';
import type { Connection } from '../model/connection.js';
import { ALL_TCP_STATES, type StateSource, type TcpState } from '../tcp-states.js';

/**
 * `network.connection.state`: still incubating in the semantic conventions, whose guidance is
 * to copy an incubating name rather than load the incubating entry point at run time (a large
 * module, at every start-up). A test holds it equal to semconv's `ATTR_NETWORK_CONNECTION_STATE`.
 */
export const ATTR_NETWORK_CONNECTION_STATE = 'network.connection.state';

/** Attribute names: OpenTelemetry semantic conventions where one exists, `tcp.*`/`nodejs.*` otherwise. */
export const ATTR = {
  networkTransport: ATTR_NETWORK_TRANSPORT,
  networkType: ATTR_NETWORK_TYPE,
  networkLocalAddress: ATTR_NETWORK_LOCAL_ADDRESS,
  networkLocalPort: ATTR_NETWORK_LOCAL_PORT,
  networkPeerAddress: ATTR_NETWORK_PEER_ADDRESS,
  networkPeerPort: ATTR_NETWORK_PEER_PORT,
  serverAddress: ATTR_SERVER_ADDRESS,
  serverPort: ATTR_SERVER_PORT,
  clientAddress: ATTR_CLIENT_ADDRESS,
  clientPort: ATTR_CLIENT_PORT,
  connectionState: ATTR_NETWORK_CONNECTION_STATE,
  errorType: ATTR_ERROR_TYPE,
  codeStacktrace: ATTR_CODE_STACKTRACE,
  codeFilePath: ATTR_CODE_FILE_PATH,
  codeLineNumber: ATTR_CODE_LINE_NUMBER,
  codeColumnNumber: ATTR_CODE_COLUMN_NUMBER,
  codeFunctionName: ATTR_CODE_FUNCTION_NAME,
  creationStackSource: 'tcp.connection.creation_stack.source',
  stateSource: 'tcp.state.source',
  bytesReceived: 'tcp.bytes.received',
  bytesSent: 'tcp.bytes.sent',
  closeReason: 'tcp.close.reason',
  closeInitiator: 'tcp.close.initiator',
  closeWaitCause: 'tcp.close_wait.cause',
  closeWaitDurationMs: 'tcp.close_wait.duration_ms',
  unreadKernelBytes: 'tcp.close_wait.unread_bytes.kernel',
  unreadNodeBytes: 'tcp.close_wait.unread_bytes.node',
  readableFlowing: 'nodejs.stream.read_mode',
  socketSide: 'tcp.connection.side',
  handshakeSource: 'tcp.handshake.source',
  halfCloseBytesReceived: 'tcp.half_close.bytes.received',
  halfCloseBytesSent: 'tcp.half_close.bytes.sent',
  halfCloseStuckCause: 'tcp.half_close.stuck.cause',
  halfCloseDuration: 'tcp.half_close.duration',
  rttMs: 'tcp.info.rtt_ms',
  rttVarMs: 'tcp.info.rtt_var_ms',
  cwnd: 'tcp.info.cwnd',
  retransmits: 'tcp.info.retransmits',
  tcpInfoAgeMs: 'tcp.info.age_ms',
  findingType: 'tcp.finding.type',
  requestsPerConnection: 'tcp.time_wait.requests_per_connection',
  listenSynReceived: 'tcp.listen.syn_received',
  listenAcceptQueue: 'tcp.listen.accept_queue',
  listenBacklog: 'tcp.listen.backlog',
  listenOverflows: 'tcp.listen.overflows',
  listenDrops: 'tcp.listen.drops',
  listenCountersScope: 'tcp.listen.counters_scope',
  listenPorts: 'tcp.listen.ports',
  listenPressureReasons: 'tcp.listen.pressure.reasons',
  listenerShared: 'tcp.listener.shared',
  eventLoopStallDuration: 'nodejs.event_loop.stall.duration',
  timeWaitCount: 'tcp.time_wait.count',
  timeWaitHostCount: 'tcp.time_wait.host_count',
  timeWaitTopPeerAddresses: 'tcp.time_wait.top_peers.address',
  timeWaitTopPeerCounts: 'tcp.time_wait.top_peers.count',
  ephemeralPortRange: 'tcp.ephemeral_ports.range',
  ephemeralPortUtilization: 'tcp.ephemeral_ports.utilization',
  ephemeralPortSecondsToExhaustion: 'tcp.ephemeral_ports.seconds_to_exhaustion',
} as const;

/** Address attributes of a connection, once its endpoints are known. */
export function endpointAttributes(c: Connection): Attributes {
  if (c.local === undefined || c.peer === undefined) return {};
  const attributes: Attributes = {
    // By the address on the wire: a dual-stack socket's IPv4-mapped peer talks IPv4.
    [ATTR.networkType]: c.peer.address.includes(':') ? 'ipv6' : 'ipv4',
    [ATTR.networkLocalAddress]: c.local.address,
    [ATTR.networkLocalPort]: c.local.port,
    [ATTR.networkPeerAddress]: c.peer.address,
    [ATTR.networkPeerPort]: c.peer.port,
  };
  if (c.side === 'client') {
    attributes[ATTR.serverAddress] = c.peer.address;
    attributes[ATTR.serverPort] = c.peer.port;
  } else {
    attributes[ATTR.clientAddress] = c.peer.address;
    attributes[ATTR.clientPort] = c.peer.port;
  }
  return attributes;
}

/** The attributes that say where the other end is: left out under `redactPeerAddresses`. */
export const PEER_ADDRESS_ATTRIBUTES: readonly string[] = [ATTR.networkPeerAddress, ATTR.serverAddress, ATTR.clientAddress, ATTR.timeWaitTopPeerAddresses];

/** `attributes` without the other end's address (ports kept), when `redact`. */
export function peerRedacted(attributes: Attributes, redact: boolean): Attributes {
  if (!redact) return attributes;
  const kept: Attributes = { ...attributes };
  for (const key of PEER_ADDRESS_ATTRIBUTES) delete kept[key];
  return kept;
}

/**
 * The attributes of every `tcp.state_change` event, made once per state and source (the SDK
 * copies event attributes, so one frozen object serves every event).
 */
const STATE_CHANGE_ATTRIBUTES = new Map<TcpState, Readonly<Record<StateSource, Attributes>>>(
  ALL_TCP_STATES.map((state) => [
    state,
    {
      socket_event: Object.freeze({ [ATTR.connectionState]: state, [ATTR.stateSource]: 'socket_event' }),
      kernel: Object.freeze({ [ATTR.connectionState]: state, [ATTR.stateSource]: 'kernel' }),
    },
  ]),
);
export function stateChangeAttributes(state: TcpState, source: StateSource): Attributes {
  return (STATE_CHANGE_ATTRIBUTES.get(state) as Record<StateSource, Attributes>)[source];
}

/**
 * Who sent the first FIN, in Node's order of our `'finish'` and the peer's `'end'`; a
 * simultaneous close (CLOSING: both FINs crossed) only when the kernel source saw it.
 */
export function closeInitiator(c: Connection): 'local' | 'peer' | 'simultaneous' | undefined {
  if (c.sawClosing) return 'simultaneous';
  return c.firstFin?.by;
}

/** tcp_info from the last kernel sighting, when a kernel source saw the connection. */
export function tcpInfoAttributes(c: Connection, at: number): Attributes {
  const info = c.kernel?.row.tcpInfo;
  if (c.kernel === undefined || info === undefined) return {};
  const attributes: Attributes = { [ATTR.tcpInfoAgeMs]: Math.max(0, Math.round(at - c.kernel.seenAt)) };
  if (info.rttMs !== undefined) attributes[ATTR.rttMs] = info.rttMs;
  if (info.rttVarMs !== undefined) attributes[ATTR.rttVarMs] = info.rttVarMs;
  if (info.cwnd !== undefined) attributes[ATTR.cwnd] = info.cwnd;
  if (info.retransTotal !== undefined) attributes[ATTR.retransmits] = info.retransTotal;
  return attributes;
}

/** The name of an error for `error.type`: its code (ECONNREFUSED…), else its class name. */
export function errorType(error: Error): string {
  const code = (error as Error & { code?: unknown }).code;
  return typeof code === 'string' ? code : error.name;
}

/** Attributes of a `tcp.close_wait.leak` span. */
export function leakAttributes(leak: CloseWaitLeak): Attributes {
  const c = leak.connection;
  const attributes: Attributes = {
    [ATTR.networkTransport]: 'tcp',
    ...endpointAttributes(c),
    [ATTR.connectionState]: 'close_wait',
    [ATTR.stateSource]: c.stateSource,
    [ATTR.socketSide]: c.side,
    [ATTR.closeWaitCause]: leak.cause,
    [ATTR.closeWaitDurationMs]: Math.round(leak.durationMs),
    [ATTR.unreadNodeBytes]: leak.unreadNodeBytes,
    [ATTR.readableFlowing]: leak.readMode,
  };
  if (leak.unreadKernelBytes !== undefined) attributes[ATTR.unreadKernelBytes] = leak.unreadKernelBytes;
  return { ...attributes, ...creationStackAttributes(c) };
}

/** Attributes of a `tcp.half_close.stuck` span. */
export function halfCloseStuckAttributes(stuck: HalfCloseStuck): Attributes {
  const c = stuck.connection;
  return {
    [ATTR.networkTransport]: 'tcp',
    ...endpointAttributes(c),
    [ATTR.connectionState]: stuck.state,
    [ATTR.stateSource]: c.stateSource,
    [ATTR.socketSide]: c.side,
    [ATTR.halfCloseStuckCause]: stuck.cause,
    [ATTR.halfCloseDuration]: stuck.durationMs / 1000,
    ...tcpInfoAttributes(c, stuck.detectedAt),
    ...creationStackAttributes(c),
  };
}

/**
 * Where the connection was made: its creation stack and innermost application frame. A
 * client connection whose stack was not captured (sampled out) shows the last one captured
 * for its destination, marked `sibling`.
 */
export function creationStackAttributes(c: Connection): Attributes {
  const own = c.creationStack;
  const stack = own ?? c.stackSite?.lastStack;
  if (stack === undefined) return {};
  const attributes: Attributes = { [ATTR.codeStacktrace]: stack.format(), [ATTR.creationStackSource]: own === undefined ? 'sibling' : 'own' };
  const frame = stack.userFrame();
  if (frame !== undefined) {
    attributes[ATTR.codeFilePath] = frame.filePath;
    attributes[ATTR.codeLineNumber] = frame.line;
    attributes[ATTR.codeColumnNumber] = frame.column;
    if (frame.functionName !== undefined) attributes[ATTR.codeFunctionName] = frame.functionName;
  }
  return attributes;
}

/** Attributes of a `tcp.time_wait.accumulation` span. */
export function timeWaitAttributes(finding: TimeWaitAccumulation): Attributes {
  const attributes: Attributes = {
    [ATTR.networkTransport]: 'tcp',
    [ATTR.connectionState]: 'time_wait',
    [ATTR.socketSide]: finding.side,
    [ATTR.timeWaitCount]: finding.count,
    [ATTR.timeWaitHostCount]: finding.hostCount,
  };
  if (finding.ephemeralPortRange !== undefined) attributes[ATTR.ephemeralPortRange] = finding.ephemeralPortRange;
  if (finding.side === 'server') {
    attributes[ATTR.serverPort] = finding.port;
    attributes[ATTR.timeWaitTopPeerAddresses] = finding.topPeers.map((p) => p.address);
    attributes[ATTR.timeWaitTopPeerCounts] = finding.topPeers.map((p) => p.count);
    if (finding.sharedListener) attributes[ATTR.listenerShared] = true;
  } else {
    attributes[ATTR.serverAddress] = finding.destination.address;
    attributes[ATTR.serverPort] = finding.destination.port;
    if (finding.utilization !== undefined) attributes[ATTR.ephemeralPortUtilization] = finding.utilization;
    if (finding.secondsToExhaustion !== undefined) attributes[ATTR.ephemeralPortSecondsToExhaustion] = finding.secondsToExhaustion;
    if (finding.requestsPerConnection !== undefined) attributes[ATTR.requestsPerConnection] = Math.round(finding.requestsPerConnection * 100) / 100;
  }
  return attributes;
}
