import { execa } from 'execa';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');

/** The version of a package in this checkout's node_modules, so that npm installs it from its cache. */
export function installedVersion(name: string): string {
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

/** A tarball packed from a clean copy of the repository, in a work folder of its own. */
export interface Packed {
  readonly work: string;
  readonly tarball: string;
  /** The tarball's files, as `npm pack` listed them. */
  readonly files: readonly string[];
  /** Removes the work folder and all projects installed in it. */
  remove(): void;
}

/**
 * What a user gets: a clean copy of the repository (the files git would commit; no dist/, no
 * node_modules) packed with plain `npm pack`, whose prepack builds.
 */
export async function packClean(): Promise<Packed> {
  const work = mkdtempSync(join(tmpdir(), 'socklife-pack-'));
  const remove = () => rmSync(work, { recursive: true, force: true });
  try {
    const clone = join(work, 'clone');
    const { stdout } = await execa('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT });
    for (const file of stdout.split('\0')) {
      if (file === '' || !existsSync(join(ROOT, file))) continue;
      // A worktree's node_modules may be an untracked link.
      if (lstatSync(join(ROOT, file)).isSymbolicLink()) continue;
      mkdirSync(dirname(join(clone, file)), { recursive: true });
      cpSync(join(ROOT, file), join(clone, file));
    }
    if (existsSync(join(clone, 'dist'))) throw new Error('the clean copy has a dist/');
    // The build tools come from this checkout's install; nothing else is shared.
    symlinkSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'), 'dir');
    const packed = await execa('npm', ['pack', '--json', '--pack-destination', work], { cwd: clone });
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
    if (info === undefined) throw new Error(`npm pack printed no result: ${packed.stdout}`);
    return { work, tarball: join(work, info.filename), files: info.files.map((f) => f.path), remove };
  } catch (error) {
    remove();
    throw error;
  }
}

/** An empty project named `name` in the pack's work folder, with the tarball and `dependencies` installed (from npm's cache when it can). */
export async function installPacked(packed: Packed, name: string, dependencies: readonly string[]): Promise<string> {
  const dir = join(packed.work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
  await execa('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', packed.tarball, ...dependencies], { cwd: dir });
  return dir;
}

export interface PackedProject {
  /** An empty project with the tarball installed, and the given dependencies. */
  readonly dir: string;
  /** Removes everything made. */
  remove(): void;
}

/** A packed tarball installed into an empty project with `dependencies`. */
export async function packedProject(dependencies: readonly string[]): Promise<PackedProject> {
  const packed = await packClean();
  try {
    return { dir: await installPacked(packed, 'app', dependencies), remove: packed.remove };
  } catch (error) {
    packed.remove();
    throw error;
  }
}
