import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { waitFor } from './telemetry.js';

/** The argv every kernel read of the ss source starts with: `ss` runs of a test's own are not polls. */
const POLL_ARGV = '-t -a -n -i -e -o -H';

/** The real binary of a tool on PATH. */
function onPath(tool: string, path: string): string {
  for (const dir of path.split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, tool))) return join(dir, tool);
  }
  throw new Error(`${tool} not on PATH`);
}

/**
 * Counts the polls of this process's instrumentation that read the kernel through `ss`: a
 * wrapper put first on PATH logs each such run, then runs the real ss. A test waits for polls
 * with it instead of sleeping for some number of poll intervals.
 */
export class SsPolls {
  private readonly dir = mkdtempSync(join(tmpdir(), 'socklife-ss-polls-'));
  private readonly log = join(this.dir, 'polls');
  private readonly savedPath = process.env.PATH;

  constructor() {
    const real = onPath('ss', this.savedPath ?? '');
    writeFileSync(join(this.dir, 'ss'), `#!/bin/sh\ncase "$*" in '${POLL_ARGV}'*) echo poll >> '${this.log}' ;; esac\nexec '${real}' "$@"\n`, { mode: 0o755 });
    process.env.PATH = `${this.dir}${delimiter}${this.savedPath ?? ''}`;
  }

  /** How many polls have started a kernel read so far. */
  count(): number {
    return existsSync(this.log) ? readFileSync(this.log, 'utf8').split('\n').filter(Boolean).length : 0;
  }

  /**
   * Resolves once `n` polls that started from now on have read the kernel and applied what it
   * said: kernel reads never overlap, so when the read after them has started, they are done.
   */
  async next(n: number, timeoutMs = 5000): Promise<void> {
    const target = this.count() + n + 1;
    await waitFor(() => (this.count() >= target ? true : undefined), timeoutMs, `${n} more kernel polls through ss`);
  }

  /**
   * Waits until `probe` returns a value, for as long as `n` polls take to start from now: a
   * result that polls bring is counted in polls, not in time, so a slow `ss` on a loaded machine
   * delays it and does not fail it. Fails after `timeoutMs` whatever the polls did.
   */
  async within<T>(n: number, probe: () => T | undefined, what: string, timeoutMs = 15_000): Promise<T> {
    const last = this.count() + n;
    return waitFor(
      () => {
        const value = probe();
        if (value === undefined && this.count() > last) throw new Error(`${n} kernel polls through ss went by without ${what}`);
        return value;
      },
      timeoutMs,
      what,
    );
  }

  dispose(): void {
    process.env.PATH = this.savedPath;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
