/**
 * Stacks that say which line of the user's code made a socket. A stack is read the moment it
 * is captured and reduced to what a report needs: its text and its first application frame,
 * shared by every socket made from the same place. No V8 frame is kept: a captured stack's raw
 * frames hold every caller's receiver and function alive for as long as the connection lives,
 * which under churn moves them into the old generation and makes the collector pay per
 * connection.
 */

/** The first frame of a stack that is the application's own code (not Node's, not a dependency's). */
export interface UserFrame {
  readonly functionName?: string;
  readonly filePath: string;
  readonly line: number;
  readonly column: number;
}

/** A creation stack, shared by every connection made from the same place. */
export interface CreationStack {
  /** The stack as text, one frame a line, from the code that made the socket outwards. */
  format(): string;
  /** The innermost frame in the application's own files, if any. */
  userFrame(): UserFrame | undefined;
}

/**
 * Frames taken first: enough to get from `net.connect` back through `http`/`Agent` internals
 * to the caller and a few of its callers. Only a stack with no application frame among them
 * is taken again, deeper (`DEEP_FRAMES`).
 */
const FIRST_FRAMES = 12;
const DEEP_FRAMES = 32;

/** The publishing frames of diagnostics_channel: everything above them is socklife's own. */
const PUBLISH_FRAME = /node:diagnostics_channel|\b(?:Channel|TracingChannel)\.(?:publish|runStores|traceSync)\b/;
const FRAME = /^at (?:(.*?) \()?(.+?):(\d+):(\d+)\)?$/;

/** A stack as text and its first application frame. */
class FormattedStack implements CreationStack {
  private frame: UserFrame | null | undefined;
  constructor(private readonly text: string) {}

  format(): string {
    return this.text;
  }

  userFrame(): UserFrame | undefined {
    if (this.frame === undefined) this.frame = findUserFrame(this.text) ?? null;
    return this.frame ?? undefined;
  }
}

/** Distinct stacks kept for sharing; past this many, a new one is kept by its connection alone. */
const MAX_INTERNED = 4096;
/** By the positions of their frames (`positionsOf`). */
const interned = new Map<string, FormattedStack>();

type Sites = readonly NodeJS.CallSite[];

/** An Error.prepareStackTrace that hands back V8's call sites, read at once and let go. */
const returnSites = (_error: unknown, sites: Sites): Sites => sites;

/**
 * The call sites of the current stack, at most `limit`, below the frame of `cut` (which must be
 * on the stack, else none). The application's own Error.prepareStackTrace and stack limit
 * are put back before this returns.
 */
function callSites(limit: number, cut: (...args: never[]) => unknown): Sites {
  const holder: { stack?: unknown } = {};
  const limitBefore = Error.stackTraceLimit;
  const prepareBefore = Error.prepareStackTrace;
  try {
    Error.stackTraceLimit = limit;
    Error.captureStackTrace(holder, cut);
    // V8 calls prepareStackTrace when `stack` is first read, not at the capture.
    Error.prepareStackTrace = returnSites;
    const sites = holder.stack;
    return Array.isArray(sites) ? (sites as Sites) : [];
  } finally {
    Error.stackTraceLimit = limitBefore;
    Error.prepareStackTrace = prepareBefore;
  }
}

/** A stack's identity: where each of its frames is. Two stacks with the same positions have the same text. */
function positionsOf(sites: Sites): string {
  let key = '';
  for (const site of sites) key += `${site.getScriptNameOrSourceURL()}@${site.getPosition()};`;
  return key;
}

function isApplicationFile(filePath: string | undefined | null): boolean {
  return typeof filePath === 'string' && !filePath.startsWith('node:') && !filePath.includes('/node_modules/') && !filePath.startsWith('internal/');
}

function hasApplicationFrame(sites: Sites): boolean {
  for (const site of sites) if (isApplicationFile(site.getFileName())) return true;
  return false;
}

function stackOf(sites: Sites): FormattedStack {
  const key = positionsOf(sites);
  let stack = interned.get(key);
  if (stack === undefined) {
    stack = new FormattedStack(ownFramesRemoved(sites.map((site) => `at ${String(site)}`)));
    if (interned.size < MAX_INTERNED) interned.set(key, stack);
  }
  return stack;
}

/** The frames below diagnostics_channel's publish: everything above them is socklife's own. */
function ownFramesRemoved(lines: readonly string[]): string {
  let lastPublish = -1;
  lines.forEach((line, i) => {
    if (PUBLISH_FRAME.test(line)) lastPublish = i;
  });
  return lines.slice(lastPublish + 1).join('\n');
}

function findUserFrame(text: string): UserFrame | undefined {
  for (const line of text.split('\n')) {
    const m = FRAME.exec(line);
    if (m === null) continue;
    const filePath = (m[2] as string).replace(/^file:\/\//, '');
    if (!isApplicationFile(filePath)) continue;
    const frame = { filePath, line: Number(m[3]), column: Number(m[4]) };
    return m[1] === undefined ? frame : { ...frame, functionName: m[1].replace(/^async /, '') };
  }
  return undefined;
}

/**
 * Captures the current stack and returns its shared form. Frames above `cutAbove`
 * (socklife's own API function or wrapper) are never walked;
 * when it is not on the stack, the stack starts at this function's caller. Takes
 * FIRST_FRAMES frames; a stack with no application frame among them is taken again,
 * DEEP_FRAMES deep.
 */
export function captureCreationStack(cutAbove?: (...args: never[]) => unknown): CreationStack {
  let cut = cutAbove ?? captureCreationStack;
  let sites = callSites(FIRST_FRAMES, cut);
  if (sites.length === 0 && cut !== captureCreationStack) {
    // `cutAbove` is not on the stack: cut at this function instead.
    cut = captureCreationStack;
    sites = callSites(FIRST_FRAMES, cut);
  }
  if (sites.length === FIRST_FRAMES && !hasApplicationFrame(sites)) sites = callSites(DEEP_FRAMES, cut);
  return stackOf(sites);
}
