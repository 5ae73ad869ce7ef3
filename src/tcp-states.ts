/**
 * The eleven TCP states of RFC 9293, named by their OpenTelemetry semantic-convention value
 * of `network.connection.state`. Every stage speaks this vocabulary: observers report it,
 * the model moves between it, reporters export it unchanged.
 */
export const TcpState = {
  Closed: 'closed',
  Listen: 'listen',
  SynSent: 'syn_sent',
  SynReceived: 'syn_received',
  Established: 'established',
  FinWait1: 'fin_wait_1',
  FinWait2: 'fin_wait_2',
  CloseWait: 'close_wait',
  Closing: 'closing',
  LastAck: 'last_ack',
  TimeWait: 'time_wait',
} as const;

export type TcpState = (typeof TcpState)[keyof typeof TcpState];

export const ALL_TCP_STATES: readonly TcpState[] = Object.freeze(Object.values(TcpState));

/** Where a state came from: Node's socket events, or a kernel table (ss, /proc/net, netstat). */
export type StateSource = 'socket_event' | 'kernel';
