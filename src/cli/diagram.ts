import { TRANSITIONS } from '../model/transitions.js';
import { ALL_TCP_STATES, TcpState } from '../tcp-states.js';
import type { StateCounts } from './scope.js';
import { createStyle, type SgrName } from './style.js';

/**
 * The TCP state diagram, drawn as it is usually drawn: opening down the middle (LISTEN,
 * SYN_SENT, SYN_RECEIVED, ESTABLISHED), the active close on the left (FIN_WAIT_1, then
 * FIN_WAIT_2 or CLOSING, then TIME_WAIT), the passive close on the right (CLOSE_WAIT,
 * LAST_ACK). Each `{state      }` slot is 20 columns wide and is the middle line of a box;
 * the arrows are the moves of DIAGRAM_EDGES, each one a row of TRANSITIONS. 78 columns wide.
 */
const TEMPLATE = String.raw`
                          ┌────────────────────┐
                          │{closed            }│
                          └────────────────────┘
                    listen() │            │ connect(): send SYN
                             ▼            └───────────────────┐
                          ┌────────────────────┐              ▼
                          │{listen            }│   ┌────────────────────┐
                          └────────────────────┘   │{syn_sent          }│
      recv SYN, send SYN+ACK │                     └────────────────────┘
                             ▼                                │ recv SYN+ACK,
                          ┌────────────────────┐              │ send ACK
                          │{syn_received      }│              │
                          └────────────────────┘              │
                    recv ACK │                                │
                             ▼                                │
                          ┌────────────────────┐              │
                          │{established       }│◀─────────────┘
                          └────────────────────┘
           close(): send FIN │              │ recv FIN
          ┌──────────────────┘              └─────────────────────┐
          ▼ active close                            passive close ▼
┌────────────────────┐                                  ┌────────────────────┐
│{fin_wait_1        }│                                  │{close_wait        }│
└────────────────────┘                                  └────────────────────┘
 recv ACK │    │ recv FIN, send ACK             close(): send FIN │
          │    └────────────────────┐                             │
          ▼                         ▼                             ▼
┌────────────────────┐    ┌────────────────────┐        ┌────────────────────┐
│{fin_wait_2        }│    │{closing           }│        │{last_ack          }│
└────────────────────┘    └────────────────────┘        └────────────────────┘
 recv FIN │                         │ recv ACK           recv ACK │
          ▼                         │                             ▼
┌────────────────────┐              │                          CLOSED
│{time_wait         }│◀─────────────┘
└────────────────────┘
          │ 2·MSL (60 s)
          ▼ CLOSED
`.slice(1, -1);

/** The arrows drawn in TEMPLATE, each a legal move (a test holds them against TRANSITIONS). */
export const DIAGRAM_EDGES: ReadonlyArray<readonly [TcpState, TcpState]> = [
  [TcpState.Closed, TcpState.Listen],
  [TcpState.Closed, TcpState.SynSent],
  [TcpState.Listen, TcpState.SynReceived],
  [TcpState.SynSent, TcpState.Established],
  [TcpState.SynReceived, TcpState.Established],
  [TcpState.Established, TcpState.FinWait1],
  [TcpState.Established, TcpState.CloseWait],
  [TcpState.FinWait1, TcpState.FinWait2],
  [TcpState.FinWait1, TcpState.Closing],
  [TcpState.FinWait2, TcpState.TimeWait],
  [TcpState.Closing, TcpState.TimeWait],
  [TcpState.CloseWait, TcpState.LastAck],
  [TcpState.LastAck, TcpState.Closed],
  [TcpState.TimeWait, TcpState.Closed],
];

const SLOT_WIDTH = 20;
const SLOT = /\{([a-z_0-9]+) *\}/g;

interface Slot {
  readonly state: TcpState;
  readonly line: number;
  /** Column of the slot's first character; the box spans column - 1 to column + SLOT_WIDTH. */
  readonly column: number;
}

function findSlots(lines: readonly string[]): Slot[] {
  const slots: Slot[] = [];
  lines.forEach((text, line) => {
    for (const m of text.matchAll(SLOT)) {
      const state = m[1] as TcpState;
      if (!ALL_TCP_STATES.includes(state) || m[0].length !== SLOT_WIDTH) throw new Error(`diagram: bad slot ${m[0]}`);
      slots.push({ state, line, column: m.index ?? 0 });
    }
  });
  return slots;
}

const LINES = TEMPLATE.split('\n');
const SLOTS = findSlots(LINES);

/** How a state is drawn: `alarm` (red, CLOSE_WAIT > 0), `warn` (yellow, many TIME_WAIT). */
export type Highlight = 'alarm' | 'warn';

export interface DiagramOptions {
  readonly color: boolean;
  readonly highlights?: ReadonlyMap<TcpState, Highlight>;
}

/** State names as people read them in netstat/ss and the RFC. */
export function stateLabel(state: TcpState): string {
  return state.toUpperCase();
}

/** Counts up to six characters wide, so a box never grows: 123456, 1.2M, 35M. */
export function formatCount(n: number): string {
  if (n < 1_000_000) return String(n);
  const millions = n / 1_000_000;
  return millions < 10 ? `${millions.toFixed(1)}M` : `${Math.floor(millions)}M`;
}

const DOUBLE_BORDER: Readonly<Record<string, string>> = { '┌': '╔', '┐': '╗', '└': '╚', '┘': '╝', '─': '═', '│': '║' };

/**
 * Draws the diagram with a count in each box. Without colour, a highlighted box gets a
 * double border, so it stands out on a pipe or a log as well; with colour, zero counts are
 * dim, `alarm` is bold red and `warn` bold yellow.
 */
export function renderStateDiagram(counts: StateCounts, options: DiagramOptions): string {
  const grid = LINES.map((l) => [...l]);
  const styles: Array<Array<readonly SgrName[] | undefined>> = grid.map((row) => row.map(() => undefined));
  const highlights = options.highlights ?? new Map<TcpState, Highlight>();
  for (const slot of SLOTS) {
    const count = counts[slot.state];
    const label = stateLabel(slot.state);
    const text = ` ${label}${formatCount(count).padStart(SLOT_WIDTH - 2 - label.length)} `;
    const highlight = highlights.get(slot.state);
    const style: readonly SgrName[] = highlight === 'alarm' ? ['bold', 'red'] : highlight === 'warn' ? ['bold', 'yellow'] : count === 0 ? ['dim'] : ['bold'];
    for (let dy = -1; dy <= 1; dy++) {
      const row = grid[slot.line + dy];
      const rowStyles = styles[slot.line + dy];
      if (row === undefined || rowStyles === undefined) continue;
      for (let x = slot.column - 1; x <= slot.column + SLOT_WIDTH; x++) {
        if (dy === 0 && x >= slot.column && x < slot.column + SLOT_WIDTH) row[x] = text[x - slot.column] ?? ' ';
        else if (highlight !== undefined && !options.color) row[x] = DOUBLE_BORDER[row[x] ?? ''] ?? row[x] ?? ' ';
        rowStyles[x] = style;
      }
    }
  }
  const paint = createStyle(options.color).paint;
  return grid
    .map((row, y) => {
      let out = '';
      let run = '';
      let runStyle: readonly SgrName[] | undefined;
      const flush = (): void => {
        out += runStyle === undefined ? run : paint(run, ...runStyle);
        run = '';
      };
      row.forEach((ch, x) => {
        const s = styles[y]?.[x];
        if (s !== runStyle) {
          flush();
          runStyle = s;
        }
        run += ch;
      });
      flush();
      return out.trimEnd();
    })
    .join('\n');
}

/** CLOSE_WAIT > 0 is an alarm; TIME_WAIT at or over the threshold a warning. */
export function highlightsFor(counts: StateCounts, timeWaitThreshold: number): Map<TcpState, Highlight> {
  const highlights = new Map<TcpState, Highlight>();
  if (counts.close_wait > 0) highlights.set(TcpState.CloseWait, 'alarm');
  if (counts.time_wait >= timeWaitThreshold) highlights.set(TcpState.TimeWait, 'warn');
  return highlights;
}

/** Exposed for tests: the template's boxes, and whether every edge drawn is a legal move. */
export const DIAGRAM_LAYOUT = {
  lines: LINES,
  slots: SLOTS,
  edgesAreLegal: (): boolean => DIAGRAM_EDGES.every(([from, to]) => TRANSITIONS.some((t) => t.from === from && t.to === to)),
};
