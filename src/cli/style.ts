/** SGR codes the CLI uses; nothing else is ever written to the terminal but text and these. */
export const SGR = {
  bold: '1',
  dim: '2',
  red: '31',
  green: '32',
  yellow: '33',
  cyan: '36',
} as const;

export type SgrName = keyof typeof SGR;

/** Paints text when colour is on, returns it unchanged otherwise. */
export interface Style {
  readonly color: boolean;
  paint(text: string, ...styles: readonly SgrName[]): string;
}

export function createStyle(color: boolean): Style {
  return {
    color,
    paint(text, ...styles) {
      if (!color || styles.length === 0 || text === '') return text;
      return `\x1b[${styles.map((s) => SGR[s]).join(';')}m${text}\x1b[0m`;
    },
  };
}

/**
 * Colour only on a terminal, and never when `NO_COLOR` is set to anything but the empty
 * string (https://no-color.org) or the terminal says it cannot (`TERM=dumb`).
 */
export function shouldUseColor(stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (stream.isTTY !== true) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return env.TERM !== 'dumb';
}

/** Matches every escape sequence createStyle() writes; for tests and width computations. */
// eslint-disable-next-line no-control-regex -- ESC is exactly what it matches
export const ANSI_PATTERN = /\x1b\[[0-9;]*m/g;

export function visibleLength(text: string): number {
  return text.replace(ANSI_PATTERN, '').length;
}
