import * as dc from 'node:diagnostics_channel';

/**
 * Stacks that say which line of the user's code made a socket. Node keeps 10 frames by
 * default, too few to get from `net.connect` back through `http`/`Agent` internals to the
 * caller, so the limit is set for this one capture only. Each frame V8 walks costs, so the
 * capture starts below socklife's own frames (`cutAbove`) and takes no more than it needs.
 */

/** The first frame of a stack that is the application's own code (not Node's, not a dependency's). */
export interface UserFrame {
  readonly functionName?: string;
  readonly filePath: string;
  readonly line: number;
  readonly column: number;
}

/**
 * A captured stack, formatted only when a report needs it or its connection outlives a poll
 * (formatting is the costly part).
 */
export interface CreationStack {
  /** The stack as text, one frame a line, from the code that made the socket outwards. */
  format(): string;
  /** The innermost frame in the application's own files, if any. */
  userFrame(): UserFrame | undefined;
}

/**
 * Counted from `net.connect`, below socklife's frames: enough to reach the caller through
 * http.get → ClientRequest → Agent → net.connect (8 frames), and a few of its callers.
 */
const CAPTURE_FRAMES = 16;

/** The publishing frames of diagnostics_channel: everything above them is socklife's own. */
const PUBLISH_FRAME = /node:diagnostics_channel|\b(?:Channel|TracingChannel)\.(?:publish|runStores|traceSync)\b/;
const FRAME = /^at (?:(.*?) \()?(.+?):(\d+):(\d+)\)?$/;

/** A stack as text, shared by every connection made from the same place (see `compactStack`). */
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

/**
 * A stack as V8 captured it: cheap to take, but its frames keep each caller's receiver and
 * function alive and cost about 2 KB, so a connection that lives on trades it for a shared
 * `FormattedStack` (`compactStack`).
 */
class CapturedStack implements CreationStack {
  private formatted: FormattedStack | undefined;
  constructor(private readonly holder: { stack?: string }) {}

  shared(): FormattedStack {
    // An application's Error.prepareStackTrace may make `stack` something other than text.
    const stack = this.holder.stack;
    return (this.formatted ??= internStack(ownFramesRemoved(typeof stack === 'string' ? stack : '')));
  }

  format(): string {
    return this.shared().format();
  }

  userFrame(): UserFrame | undefined {
    return this.shared().userFrame();
  }
}

/** Distinct stacks kept for sharing; past this many, a new one is kept by its connection alone. */
const MAX_INTERNED = 4096;
const interned = new Map<string, FormattedStack>();

function internStack(text: string): FormattedStack {
  let stack = interned.get(text);
  if (stack === undefined) {
    stack = new FormattedStack(text);
    if (interned.size < MAX_INTERNED) interned.set(text, stack);
  }
  return stack;
}

/** The frames below diagnostics_channel's publish: everything above them is socklife's own. */
function ownFramesRemoved(stack: string): string {
  const lines = stack
    .split('\n')
    .slice(1)
    .map((line) => line.trim());
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
    if (filePath.startsWith('node:') || filePath.includes('/node_modules/') || filePath.startsWith('internal/')) continue;
    const frame = { filePath, line: Number(m[3]), column: Number(m[4]) };
    return m[1] === undefined ? frame : { ...frame, functionName: m[1].replace(/^async /, '') };
  }
  return undefined;
}

/**
 * The shared, formatted form of a stack (formatting costs about 20 µs): what a long-lived
 * connection keeps instead of V8's frames. A stack already compact is returned as it is.
 */
export function compactStack(stack: CreationStack): CreationStack {
  return stack instanceof CapturedStack ? stack.shared() : stack;
}

/** True when `stack` still holds V8's frames. */
export function isRawStack(stack: CreationStack | undefined): stack is CreationStack {
  return stack instanceof CapturedStack;
}

/**
 * diagnostics_channel's publish as it is on the stack while a subscriber runs (every channel
 * with subscribers shares it): the frame to cut above when Node announces a socket, so that
 * the frames of the channel and of socklife's subscriber are never walked. Read at each use,
 * as a channel's methods change when it gains or loses its subscribers.
 */
export function channelPublish(): ((...args: never[]) => unknown) | undefined {
  const publish = (dc.channel('net.client.socket') as { publish?: unknown }).publish;
  return typeof publish === 'function' ? (publish as (...args: never[]) => unknown) : undefined;
}

/**
 * Captures the current stack; V8 formats it lazily, on the first `format()`. Frames above
 * `cutAbove` (socklife's own API function, or `channelPublish()` inside a subscriber; it must
 * be on the stack) are left out and never walked.
 */
export function captureCreationStack(cutAbove?: (...args: never[]) => unknown): CreationStack {
  const holder: { stack?: string } = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = CAPTURE_FRAMES;
  try {
    Error.captureStackTrace(holder, cutAbove ?? captureCreationStack);
  } finally {
    Error.stackTraceLimit = limit;
  }
  return new CapturedStack(holder);
}
