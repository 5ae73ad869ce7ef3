/**
 * Stacks that say which line of the user's code made a socket. Node keeps 10 frames by
 * default, too few to get from `net.connect` back through `http`/`Agent` internals to the
 * caller, so the limit is raised for this one capture only.
 */

/** The first frame of a stack that is the application's own code (not Node's, not a dependency's). */
export interface UserFrame {
  readonly functionName?: string;
  readonly filePath: string;
  readonly line: number;
  readonly column: number;
}

/** A captured stack, formatted only when a report needs it (formatting is the costly part). */
export interface CreationStack {
  /** The stack as text, one frame a line, from the code that made the socket outwards. */
  format(): string;
  /** The innermost frame in the application's own files, if any. */
  userFrame(): UserFrame | undefined;
}

/** Enough to reach the caller through http.request → Agent → net.connect (about 12 frames), with room. */
const CAPTURE_FRAMES = 32;

/** The publishing frames of diagnostics_channel: everything above them is socklife's own. */
const PUBLISH_FRAME = /node:diagnostics_channel|\b(?:Channel|TracingChannel)\.(?:publish|runStores|traceSync)\b/;
const FRAME = /^at (?:(.*?) \()?(.+?):(\d+):(\d+)\)?$/;

class CapturedStack implements CreationStack {
  private frames: string[] | undefined;
  constructor(private readonly holder: { stack?: string }) {}

  private lines(): string[] {
    if (this.frames === undefined) {
      const lines = (this.holder.stack ?? '').split('\n').slice(1).map((line) => line.trim());
      let lastPublish = -1;
      lines.forEach((line, i) => {
        if (PUBLISH_FRAME.test(line)) lastPublish = i;
      });
      this.frames = lines.slice(lastPublish + 1);
    }
    return this.frames;
  }

  format(): string {
    return this.lines().join('\n');
  }

  userFrame(): UserFrame | undefined {
    for (const line of this.lines()) {
      const m = FRAME.exec(line);
      if (m === null) continue;
      const filePath = (m[2] as string).replace(/^file:\/\//, '');
      if (filePath.startsWith('node:') || filePath.includes('/node_modules/') || filePath.startsWith('internal/')) continue;
      const frame = { filePath, line: Number(m[3]), column: Number(m[4]) };
      return m[1] === undefined ? frame : { ...frame, functionName: m[1].replace(/^async /, '') };
    }
    return undefined;
  }
}

/**
 * Captures the current stack; V8 formats it lazily, on the first `format()`. Frames above
 * `cutAbove` (socklife's own API function) are left out.
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
