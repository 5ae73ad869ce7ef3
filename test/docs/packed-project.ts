import { execa } from 'execa';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');

/** The version of a package in this checkout's node_modules, so that npm installs it from its cache. */
export function installedVersion(name: string): string {
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

export interface PackedProject {
  /** An empty project with the tarball installed, and the given dependencies. */
  readonly dir: string;
  /** Removes everything made. */
  remove(): void;
}

/**
 * What a user gets: a clean copy of the repository (the files git would commit; no dist/, no
 * node_modules) packed with plain `npm pack` (its prepack builds), and the tarball installed
 * into an empty project with `dependencies`, as test/package.test.ts does.
 */
export async function packedProject(dependencies: readonly string[]): Promise<PackedProject> {
  const work = mkdtempSync(join(tmpdir(), 'socklife-docs-'));
  try {
    const clone = join(work, 'clone');
    const { stdout } = await execa('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT });
    for (const file of stdout.split('\0')) {
      if (file === '' || !existsSync(join(ROOT, file))) continue;
      // A worktree's node_modules may be an untracked symlink, which .gitignore's `node_modules/` does not match.
      if (lstatSync(join(ROOT, file)).isSymbolicLink()) continue;
      mkdirSync(dirname(join(clone, file)), { recursive: true });
      cpSync(join(ROOT, file), join(clone, file));
    }
    if (existsSync(join(clone, 'dist'))) throw new Error('the clean copy has a dist/');
    // The build tools come from this checkout's install; nothing else is shared.
    symlinkSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'), 'dir');
    const packed = await execa('npm', ['pack', '--json', '--pack-destination', work], { cwd: clone });
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{ filename: string }>;
    if (info === undefined) throw new Error(`npm pack printed no result: ${packed.stdout}`);

    const dir = join(work, 'app');
    mkdirSync(dir);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    await execa('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(work, info.filename), ...dependencies], { cwd: dir });
    return { dir, remove: () => rmSync(work, { recursive: true, force: true }) };
  } catch (error) {
    rmSync(work, { recursive: true, force: true });
    throw error;
  }
}
