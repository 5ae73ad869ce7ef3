// Builds the CommonJS and ES module trees with tsc and marks each folder's module type,
// so that `require` and `import` each load a native build (no require(esm) needed).
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');

rmSync('dist', { recursive: true, force: true });
for (const [config, type] of [
  ['tsconfig.build-cjs.json', 'commonjs'],
  ['tsconfig.build-esm.json', 'module'],
]) {
  execFileSync(process.execPath, [tsc, '-p', config], { stdio: 'inherit' });
  const dir = type === 'commonjs' ? 'dist/cjs' : 'dist/esm';
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/package.json`, JSON.stringify({ type }) + '\n');
}
// The `socklife` command (package.json "bin") runs straight from a checkout too.
chmodSync('dist/cjs/cli/main.js', 0o755);
