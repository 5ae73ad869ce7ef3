// Other work rebuilds dist/ (rm -rf, then tsc) at any time, so a benchmark runs against a
// private copy: bench/.snapshot/node_modules/socklife (package.json + dist), with
// bench/.snapshot/package.json making .snapshot its own package scope. Children run with
// .snapshot as their working directory, so `--require socklife/register` resolves to the
// copy; its dependencies (@opentelemetry/api, @opentelemetry/semantic-conventions) resolve from the repository's
// node_modules, one directory further up. bench/run.mjs makes the copy once (BENCH_SNAPSHOT)
// so that every figure measures the same build.
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEFAULT = fileURLToPath(new URL('../.snapshot/', import.meta.url));
const REQUIRED = ['cjs/index.js', 'cjs/register.js', 'cjs/package.json', 'esm/index.js', 'esm/register.js', 'esm/package.json'];

function count(dir, ext) {
  let n = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) if (entry.isFile() && entry.name.endsWith(ext)) n++;
  return n;
}

function complete(dist) {
  return REQUIRED.every((f) => existsSync(`${dist}/${f}`)) && count(`${dist}/cjs`, '.js') === count(`${dist}/esm`, '.js');
}

/** Copies the current build; waits (up to 60 s) for a complete one when a rebuild is under way. */
export async function makeSnapshot(dir = DEFAULT) {
  const pkg = `${dir}node_modules/socklife/`;
  for (let attempt = 0; attempt < 60; attempt++) {
    if (complete(`${ROOT}dist`)) {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(pkg, { recursive: true });
      writeFileSync(`${dir}package.json`, JSON.stringify({ name: 'socklife-bench-snapshot', private: true }) + '\n');
      cpSync(`${ROOT}package.json`, `${pkg}package.json`);
      cpSync(`${ROOT}dist`, `${pkg}dist`, { recursive: true });
      if (complete(`${pkg}dist`)) return dir;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error('dist/ stayed incomplete for 60 s (a rebuild under way?); run `npm run build` and try again');
}

let current;
/** The snapshot this process uses: BENCH_SNAPSHOT (made by run.mjs), else a fresh one. */
export async function snapshot() {
  if (process.env.BENCH_SNAPSHOT && existsSync(`${process.env.BENCH_SNAPSHOT}node_modules/socklife/dist/cjs/index.js`)) return process.env.BENCH_SNAPSHOT;
  current ??= makeSnapshot();
  return current;
}
