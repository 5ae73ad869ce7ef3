import { describe, expect, it } from 'vitest';
import { canReach, isDirectTransition, TRANSITIONS } from '../../src/model/transitions.js';
import { ALL_TCP_STATES, stateOrdinal, TcpState as S, type TcpState } from '../../src/tcp-states.js';

function successors(state: TcpState): TcpState[] {
  return TRANSITIONS.filter((t) => t.from === state)
    .map((t) => t.to)
    .sort();
}

describe('the transition table', () => {
  it('gives each state its own ordinal, its place in ALL_TCP_STATES', () => {
    expect(ALL_TCP_STATES.map(stateOrdinal)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('reaches exactly what a walk of its rows reaches, for every pair of states', () => {
    const walk = (from: TcpState, to: TcpState): boolean => {
      const seen = new Set<TcpState>();
      const stack = successors(from);
      while (stack.length > 0) {
        const s = stack.pop() as TcpState;
        if (s === to) return true;
        if (seen.has(s) || s === S.Closed) continue;
        seen.add(s);
        stack.push(...successors(s));
      }
      return false;
    };
    for (const from of ALL_TCP_STATES) for (const to of ALL_TCP_STATES) expect(canReach(from, to), `${from} -> ${to}`).toBe(walk(from, to));
  });

  it('names all eleven states with their semconv values', () => {
    expect([...ALL_TCP_STATES].sort()).toEqual([
      'close_wait',
      'closed',
      'closing',
      'established',
      'fin_wait_1',
      'fin_wait_2',
      'last_ack',
      'listen',
      'syn_received',
      'syn_sent',
      'time_wait',
    ]);
  });
  it('has one row per move, each with a rule sentence', () => {
    const keys = TRANSITIONS.map((t) => `${t.from}>${t.to}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const t of TRANSITIONS) expect(t.rule).toMatch(/^[A-Z0-9].*\.$/);
  });
  it('leaves every state but CLOSED, and reaches every state', () => {
    for (const s of ALL_TCP_STATES) {
      if (s !== S.Closed) expect(successors(s).length, s).toBeGreaterThan(0);
      if (s !== S.Closed)
        expect(
          TRANSITIONS.some((t) => t.to === s),
          s,
        ).toBe(true);
    }
  });
});

describe('closed', () => {
  it('opens actively or passively', () => {
    expect(successors(S.Closed)).toEqual([S.Listen, S.SynSent]);
  });
});

describe('listen', () => {
  it('moves only to syn_received', () => expect(successors(S.Listen)).toEqual([S.SynReceived]));
});

describe('syn_sent', () => {
  it('completes, meets a simultaneous open, or fails', () => {
    expect(successors(S.SynSent)).toEqual([S.Closed, S.Established, S.SynReceived]);
  });
});

describe('syn_received', () => {
  it('completes, closes early, or is reset', () => {
    expect(successors(S.SynReceived)).toEqual([S.Closed, S.Established, S.FinWait1]);
  });
});

describe('established', () => {
  it('closes actively, passively, or by reset', () => {
    expect(successors(S.Established)).toEqual([S.CloseWait, S.Closed, S.FinWait1]);
  });
  it('cannot go back to the handshake', () => {
    expect(canReach(S.Established, S.SynSent)).toBe(false);
    expect(canReach(S.Established, S.SynReceived)).toBe(false);
  });
});

describe('fin_wait_1', () => {
  it('is acknowledged, crosses FINs, gets both at once, or is reset', () => {
    expect(successors(S.FinWait1)).toEqual([S.Closed, S.Closing, S.FinWait2, S.TimeWait]);
  });
});

describe('fin_wait_2', () => {
  it('ends in time_wait or closed', () => expect(successors(S.FinWait2)).toEqual([S.Closed, S.TimeWait]));
});

describe('close_wait', () => {
  it('sends its FIN or is reset', () => expect(successors(S.CloseWait)).toEqual([S.Closed, S.LastAck]));
  it('never turns into an active close', () => {
    expect(canReach(S.CloseWait, S.FinWait1)).toBe(false);
    expect(canReach(S.CloseWait, S.TimeWait)).toBe(false);
  });
});

describe('closing', () => {
  it('ends in time_wait or closed', () => expect(successors(S.Closing)).toEqual([S.Closed, S.TimeWait]));
});

describe('last_ack', () => {
  it('ends in closed', () => expect(successors(S.LastAck)).toEqual([S.Closed]));
});

describe('time_wait', () => {
  it('ends in closed after 2 MSL', () => expect(successors(S.TimeWait)).toEqual([S.Closed]));
  it('is not left for an earlier state', () => expect(canReach(S.TimeWait, S.Established)).toBe(false));
});

describe('reachability across sampled observations', () => {
  it('accepts a forward skip a poll can see (established to time_wait)', () => {
    expect(isDirectTransition(S.Established, S.TimeWait)).toBe(false);
    expect(canReach(S.Established, S.TimeWait)).toBe(true);
  });
  it('never runs through closed into a new connection', () => {
    expect(canReach(S.LastAck, S.SynSent)).toBe(false);
    expect(canReach(S.TimeWait, S.Listen)).toBe(false);
  });
});
