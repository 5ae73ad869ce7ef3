/**
 * The other end of a connection in its own process (test/programs/half-close-peer.cjs): a
 * peer that keeps its side open after our FIN, for a while or until told to close. No shell;
 * every wait is bounded, and the process is killed by `stop()` (and by execa's timeout).
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { waitFor } from '../support/telemetry.js';

export const PEER_PROGRAM = join(__dirname, '..', 'programs', 'half-close-peer.cjs');

/** One line the peer printed. */
export interface PeerLine {
  readonly listening?: number;
  readonly connected?: { readonly localPort: number; readonly peerPort: number };
  readonly fin?: true;
  readonly closed?: true;
}

export interface Peer {
  /** Waits for the first printed line that has `key`, and returns its value. */
  line<K extends keyof PeerLine>(key: K, timeoutMs?: number): Promise<NonNullable<PeerLine[K]>>;
  /** Ends the peer's side (`close` on its stdin). */
  close(): void;
  /** Stops the process (stdin closed, then SIGKILL); resolves once it exited, or after 3 s. */
  stop(): Promise<void>;
}

export interface PeerOptions {
  /** Run it inside this network namespace (`ip netns exec NAME`). */
  readonly netns?: string;
  readonly env?: Record<string, string>;
}

/** `args`: `connect HOST PORT HOLD_MS` or `listen HOST HOLD_MS` (HOLD_MS may be `never`). */
export function startPeer(args: readonly string[], options: PeerOptions = {}): Peer {
  const argv = [PEER_PROGRAM, ...args];
  const [file, fileArgs] = options.netns === undefined ? [process.execPath, argv] : ['ip', ['netns', 'exec', options.netns, process.execPath, ...argv]];
  const child = execa(file, fileArgs, {
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    reject: false,
    shell: false,
    timeout: 90_000,
    env: { EXIT_AFTER_MS: '60000', ...options.env },
  });
  const lines: PeerLine[] = [];
  let stderr = '';
  createInterface({ input: child.stdout }).on('line', (text) => {
    if (text.startsWith('{')) lines.push(JSON.parse(text) as PeerLine);
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    if (stderr.length < 16_384) stderr += chunk;
  });
  child.stdin.on('error', () => undefined);
  let exited = false;
  const done = child.then(() => {
    exited = true;
  });
  return {
    async line(key, timeoutMs = 5000) {
      const found = await waitFor(
        () => (exited && !lines.some((l) => l[key] !== undefined) ? { failed: true as const } : lines.find((l) => l[key] !== undefined)),
        timeoutMs,
        `the peer's ${key} line`,
      );
      if ('failed' in found) throw new Error(`the peer exited before printing ${key}: ${stderr}`);
      return found[key] as NonNullable<PeerLine[typeof key]>;
    },
    close() {
      child.stdin.write('close\n');
    },
    async stop() {
      child.stdin.end();
      const exitedWithin = (ms: number) =>
        Promise.race([done.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms).unref())]);
      if (await exitedWithin(1000)) return;
      child.kill('SIGKILL');
      await exitedWithin(2000);
    },
  };
}
