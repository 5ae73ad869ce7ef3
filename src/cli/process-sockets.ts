import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';

/** The target cannot be examined: no such process, or not allowed to read it. Exit code 2. */
export class TargetError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TargetError';
  }
}

/** Whether the target shares the CLI's network namespace, which decides whether `ss` (run here) sees its sockets. */
export type NetnsRelation = 'same' | 'other' | 'unknown';

export interface ProcessSockets {
  readonly pid: number;
  /** The program's name: argv[0]'s base name from /proc/N/cmdline, else /proc/N/comm (which Node 24 sets to its main thread's name); undefined when unreadable. */
  readonly name: string | undefined;
  /** Inodes of the sockets among its open files (`socket:[INODE]` links in /proc/N/fd), of every kind, not only TCP. */
  readonly inodes: ReadonlySet<number>;
  readonly netns: NetnsRelation;
  /** `net:[4026531840]`: the target's namespace, as /proc/N/ns/net links to it. */
  readonly netnsId: string | undefined;
  /** The CLI's own namespace (/proc/self/ns/net). */
  readonly ownNetnsId: string | undefined;
}

const SOCKET_LINK = /^socket:\[(\d+)\]$/;
/** readlink calls in flight at once: a process can hold a million descriptors. */
const READLINK_BATCH = 512;

/**
 * Reads the socket inodes of a process. Throws TargetError when the process does not exist
 * or its descriptors cannot be read (another user's process, hidepid).
 */
export async function readProcessSockets(pid: number, procRoot = '/proc'): Promise<ProcessSockets> {
  const dir = join(procRoot, String(pid));
  const owner = await ownerOf(pid, dir);
  const fdDir = join(dir, 'fd');
  let entries: string[];
  try {
    entries = await readdir(fdDir);
  } catch (error) {
    throw describeAccessError(pid, fdDir, owner, error);
  }
  const inodes = new Set<number>();
  for (let i = 0; i < entries.length; i += READLINK_BATCH) {
    const links = await Promise.all(
      // A descriptor closed since readdir() is simply gone: not an error.
      entries.slice(i, i + READLINK_BATCH).map((fd) => readlink(join(fdDir, fd)).catch(() => '')),
    );
    for (const link of links) {
      const m = SOCKET_LINK.exec(link);
      if (m !== null) inodes.add(Number(m[1]));
    }
  }
  const [name, netnsId, ownNetns] = await Promise.all([
    processName(dir),
    readlink(join(dir, 'ns', 'net')).catch(() => undefined),
    readlink(join(procRoot, 'self', 'ns', 'net')).catch(() => undefined),
  ]);
  const netns: NetnsRelation = netnsId === undefined || ownNetns === undefined ? 'unknown' : netnsId === ownNetns ? 'same' : 'other';
  return { pid, name, inodes, netns, netnsId, ownNetnsId: ownNetns };
}

async function processName(dir: string): Promise<string | undefined> {
  const argv0 = await readFile(join(dir, 'cmdline'), 'utf8').then(
    (s) => s.split('\0')[0] ?? '',
    () => '',
  );
  if (argv0 !== '') return basename(argv0);
  return readFile(join(dir, 'comm'), 'utf8').then(
    (s) => s.trim(),
    () => undefined,
  );
}

/** The uid that owns /proc/N; a missing directory is told apart from a hidden one (hidepid) by kill(pid, 0). */
async function ownerOf(pid: number, dir: string): Promise<number | undefined> {
  try {
    return (await stat(dir)).uid;
  } catch (error) {
    if (codeOf(error) !== 'ENOENT') throw describeAccessError(pid, dir, undefined, error);
    if (processExists(pid)) {
      throw new TargetError(
        `socklife: permission denied: pid ${pid} exists but ${dir} is hidden from this user (/proc mounted with hidepid); run socklife as root`,
      );
    }
    throw new TargetError(`socklife: no process with pid ${pid}`);
  }
}

/** Throws TargetError when the process is gone (it may exit while its tables are read). */
export async function assertStillRunning(pid: number, procRoot = '/proc'): Promise<void> {
  try {
    await stat(join(procRoot, String(pid)));
  } catch (error) {
    throw new TargetError(`socklife: pid ${pid} exited while its sockets were being read`, { cause: error });
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return codeOf(error) === 'EPERM';
  }
}

export function describeAccessError(pid: number, path: string, owner: number | undefined, error: unknown): TargetError {
  const code = codeOf(error);
  if (code === 'EACCES' || code === 'EPERM') {
    const uid = process.getuid?.();
    const whose = owner === undefined ? '' : ` (pid ${pid} runs as uid ${owner}${uid === undefined ? '' : `, socklife as uid ${uid}`})`;
    return new TargetError(`socklife: permission denied reading ${path}${whose}; run socklife as the process's user or as root`, { cause: error });
  }
  if (code === 'ENOENT' || code === 'ESRCH') return new TargetError(`socklife: no process with pid ${pid} (it exited)`, { cause: error });
  return new TargetError(`socklife: cannot read ${path}${code === undefined ? '' : ` (${code})`}`, { cause: error });
}

function codeOf(error: unknown): string | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}
