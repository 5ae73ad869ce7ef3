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

/**
 * A state's place in `ALL_TCP_STATES` (0 to 10): an index into a per-state array, for the
 * paths that run on every state change. A switch over the values costs a few comparisons of
 * interned strings; a lookup keyed by the state would be a keyed property access.
 */
export function stateOrdinal(state: TcpState): number {
  switch (state) {
    case TcpState.Closed:
      return 0;
    case TcpState.Listen:
      return 1;
    case TcpState.SynSent:
      return 2;
    case TcpState.SynReceived:
      return 3;
    case TcpState.Established:
      return 4;
    case TcpState.FinWait1:
      return 5;
    case TcpState.FinWait2:
      return 6;
    case TcpState.CloseWait:
      return 7;
    case TcpState.Closing:
      return 8;
    case TcpState.LastAck:
      return 9;
    case TcpState.TimeWait:
      return 10;
  }
}

/** Where a state came from: Node's socket events, or a kernel table (ss, /proc/net, netstat). */
export type StateSource = 'socket_event' | 'kernel';
