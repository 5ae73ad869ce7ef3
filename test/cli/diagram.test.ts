import { describe, expect, it } from 'vitest';
import { DIAGRAM_EDGES, DIAGRAM_LAYOUT, formatCount, highlightsFor, renderStateDiagram, stateLabel } from '../../src/cli/diagram.js';
import { emptyCounts, type StateCounts } from '../../src/cli/scope.js';
import { ANSI_PATTERN, createStyle, shouldUseColor } from '../../src/cli/style.js';
import { ALL_TCP_STATES, TcpState } from '../../src/tcp-states.js';

const COUNTS: StateCounts = { ...emptyCounts(), listen: 2, established: 14, close_wait: 3, fin_wait_2: 1, time_wait: 1500 };
const strip = (text: string): string => text.replace(ANSI_PATTERN, '');

/** The text inside the box of a state: ` LABEL      count `. */
function boxText(diagram: string, state: TcpState): string | undefined {
  const line = diagram.split('\n').find((l) => l.includes(` ${stateLabel(state)} `));
  const m = line === undefined ? null : new RegExp(`[│║]( ${stateLabel(state)} +\\S+ )[│║]`).exec(line);
  return m?.[1];
}

describe('the diagram layout', () => {
  it('has one box per TCP state, none overlapping, within 80 columns', () => {
    const { slots, lines } = DIAGRAM_LAYOUT;
    expect(slots.map((s) => s.state).sort()).toEqual([...ALL_TCP_STATES].sort());
    for (const a of slots) {
      for (const b of slots) {
        if (a === b) continue;
        const apart = Math.abs(a.line - b.line) >= 3 || a.column + 21 < b.column - 1 || b.column + 21 < a.column - 1;
        expect(apart, `${a.state} and ${b.state}`).toBe(true);
      }
    }
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80);
  });

  it('draws only legal moves, and every state but CLOSED has an arrow into it', () => {
    expect(DIAGRAM_LAYOUT.edgesAreLegal()).toBe(true);
    const entered = new Set(DIAGRAM_EDGES.map(([, to]) => to));
    for (const state of ALL_TCP_STATES) expect(entered.has(state) || state === TcpState.Closed, state).toBe(true);
  });
});

describe('renderStateDiagram', () => {
  it('shows every state with its count, right-aligned in its box, and no escape codes without colour', () => {
    const text = renderStateDiagram(COUNTS, { color: false });
    expect(text).not.toMatch(ANSI_PATTERN);
    for (const state of ALL_TCP_STATES) {
      expect(boxText(text, state), state).toBe(` ${stateLabel(state)}${String(COUNTS[state]).padStart(18 - stateLabel(state).length)} `);
    }
    for (const line of text.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
  });

  it('without colour, gives a highlighted box a double border', () => {
    const text = renderStateDiagram(COUNTS, { color: false, highlights: highlightsFor(COUNTS, 1000) });
    expect(text).toContain(`║${boxText(text, TcpState.CloseWait)}║`);
    expect(text).toContain(`║${boxText(text, TcpState.TimeWait)}║`);
    expect(text).toContain(`│${boxText(text, TcpState.Established)}│`);
    expect(text.split('\n').filter((l) => l.includes('╔'))).toHaveLength(2);
  });

  it('with colour, dims zero counts, paints CLOSE_WAIT red and many TIME_WAIT yellow, and draws the same picture', () => {
    const highlights = highlightsFor(COUNTS, 1000);
    const text = renderStateDiagram(COUNTS, { color: true, highlights });
    expect(text).toContain(`\x1b[2m│ ${stateLabel(TcpState.Closing)}`);
    expect(text).toContain(`\x1b[1;31m│ ${stateLabel(TcpState.CloseWait)}`);
    expect(text).toContain(`\x1b[1;33m│ ${stateLabel(TcpState.TimeWait)}`);
    expect(text).toContain(`\x1b[1m│ ${stateLabel(TcpState.Established)}`);
    expect(strip(text)).toBe(renderStateDiagram(COUNTS, { color: false }));
  });
});

describe('highlightsFor', () => {
  it('flags any CLOSE_WAIT, and TIME_WAIT from the threshold on', () => {
    expect([...highlightsFor(emptyCounts(), 1).entries()]).toEqual([]);
    expect([...highlightsFor({ ...emptyCounts(), close_wait: 1, time_wait: 999 }, 1000).entries()]).toEqual([['close_wait', 'alarm']]);
    expect([...highlightsFor({ ...emptyCounts(), time_wait: 1000 }, 1000).entries()]).toEqual([['time_wait', 'warn']]);
  });
});

describe('formatCount', () => {
  it('fits six characters', () => {
    expect([0, 999_999, 1_000_000, 1_250_000, 12_345_678, 999_000_000].map(formatCount)).toEqual(['0', '999999', '1.0M', '1.3M', '12M', '999M']);
  });
});

describe('colour choice', () => {
  it('colours a terminal only, and never with NO_COLOR set or TERM=dumb', () => {
    expect(shouldUseColor({ isTTY: true }, {})).toBe(true);
    expect(shouldUseColor({ isTTY: false }, {})).toBe(false);
    expect(shouldUseColor({}, {})).toBe(false);
    expect(shouldUseColor({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(shouldUseColor({ isTTY: true }, { NO_COLOR: '' })).toBe(true); // no-color.org: set and not empty
    expect(shouldUseColor({ isTTY: true }, { TERM: 'dumb' })).toBe(false);
  });

  it('paints only when on', () => {
    expect(createStyle(true).paint('x', 'bold', 'red')).toBe('\x1b[1;31mx\x1b[0m');
    expect(createStyle(false).paint('x', 'bold', 'red')).toBe('x');
  });
});
