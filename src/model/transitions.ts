import { ALL_TCP_STATES, stateOrdinal, TcpState } from '../tcp-states.js';

/** One legal move of the RFC 9293 state machine. */
export interface Transition {
  readonly from: TcpState;
  readonly to: TcpState;
  /** The rule, in one sentence. */
  readonly rule: string;
}

const S = TcpState;

/** The TCP state machine (RFC 9293 §3.3.2, with RST and timeouts), one row per legal move. */
export const TRANSITIONS: readonly Transition[] = [
  { from: S.Closed, to: S.SynSent, rule: 'Active open: connect() sends a SYN.' },
  { from: S.Closed, to: S.Listen, rule: 'Passive open: listen() waits for SYNs.' },
  { from: S.Listen, to: S.SynReceived, rule: 'A SYN arrived on the listener and a SYN+ACK went back.' },
  { from: S.SynSent, to: S.Established, rule: 'The SYN+ACK arrived and was acknowledged.' },
  { from: S.SynSent, to: S.SynReceived, rule: 'Simultaneous open: the peer\u2019s SYN crossed ours.' },
  { from: S.SynSent, to: S.Closed, rule: 'The connect failed: RST (refused), timeout, or close before the answer.' },
  { from: S.SynReceived, to: S.Established, rule: 'The ACK of our SYN+ACK arrived; accept() sees the socket from here.' },
  { from: S.SynReceived, to: S.FinWait1, rule: 'The application closed before the handshake finished.' },
  { from: S.SynReceived, to: S.Closed, rule: 'RST, or the handshake timed out.' },
  { from: S.Established, to: S.FinWait1, rule: 'Active close: our FIN is sent.' },
  { from: S.Established, to: S.CloseWait, rule: 'Passive close: the peer\u2019s FIN arrived.' },
  { from: S.Established, to: S.Closed, rule: 'RST in either direction.' },
  { from: S.FinWait1, to: S.FinWait2, rule: 'Our FIN was acknowledged; the peer may still send.' },
  { from: S.FinWait1, to: S.Closing, rule: 'Simultaneous close: the peer\u2019s FIN arrived before the ACK of ours.' },
  { from: S.FinWait1, to: S.TimeWait, rule: 'The peer\u2019s FIN and the ACK of ours arrived together.' },
  { from: S.FinWait1, to: S.Closed, rule: 'RST.' },
  { from: S.FinWait2, to: S.TimeWait, rule: 'The peer\u2019s FIN arrived and was acknowledged.' },
  { from: S.FinWait2, to: S.Closed, rule: 'RST, or the FIN_WAIT_2 timeout of an orphaned socket.' },
  { from: S.CloseWait, to: S.LastAck, rule: 'The application closed too: our FIN follows the peer\u2019s.' },
  { from: S.CloseWait, to: S.Closed, rule: 'RST, or a close that aborts with unread data.' },
  { from: S.Closing, to: S.TimeWait, rule: 'The ACK of our FIN arrived.' },
  { from: S.Closing, to: S.Closed, rule: 'RST.' },
  { from: S.LastAck, to: S.Closed, rule: 'The ACK of our FIN arrived: the connection is gone.' },
  { from: S.TimeWait, to: S.Closed, rule: '2\u00b7MSL expired.' },
];

function buildReachability(): ReadonlyMap<TcpState, ReadonlySet<TcpState>> {
  const next = new Map<TcpState, TcpState[]>(ALL_TCP_STATES.map((s) => [s, []]));
  for (const t of TRANSITIONS) next.get(t.from)?.push(t.to);
  const reach = new Map<TcpState, Set<TcpState>>();
  for (const start of ALL_TCP_STATES) {
    const seen = new Set<TcpState>();
    const stack = [...(next.get(start) ?? [])];
    while (stack.length > 0) {
      const s = stack.pop() as TcpState;
      if (seen.has(s)) continue;
      seen.add(s);
      // CLOSED ends a connection; a new one is a new record, so paths never run through it.
      if (s !== TcpState.Closed) stack.push(...(next.get(s) ?? []));
    }
    reach.set(start, seen);
  }
  return reach;
}

const REACHABLE = buildReachability();

/** `REACHABLE` flattened by ordinal (`from * 11 + to`): `canReach` runs on every state change. */
const REACHABLE_BY_ORDINAL: Uint8Array = (() => {
  const n = ALL_TCP_STATES.length;
  const table = new Uint8Array(n * n);
  for (const [from, tos] of REACHABLE) for (const to of tos) table[stateOrdinal(from) * n + stateOrdinal(to)] = 1;
  return table;
})();

/** True when the table has a row from `from` to `to`. */
export function isDirectTransition(from: TcpState, to: TcpState): boolean {
  return TRANSITIONS.some((t) => t.from === from && t.to === to);
}

/**
 * True when `to` can follow `from` through one or more rows of the table. Observations are
 * samples (a poll misses short states, Node never sees FIN_WAIT_2), so the model accepts any
 * forward move; a move backwards is stale input.
 */
export function canReach(from: TcpState, to: TcpState): boolean {
  return REACHABLE_BY_ORDINAL[stateOrdinal(from) * ALL_TCP_STATES.length + stateOrdinal(to)] === 1;
}
