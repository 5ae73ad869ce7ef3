// `socklife doctor` on a process nobody instrumented: a server that never closes the
// connections its peer closed, and that peer in another process. Build first:
//   npm run build && node examples/doctor-on-leaking-process.mjs
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

// The installed `socklife` command: package.json "bin", found by the package name, so this
// runs the same in this repository (after a build) and where socklife is installed.
const PACKAGE_JSON = createRequire(import.meta.url).resolve('socklife/package.json');
const CLI = join(dirname(PACKAGE_JSON), JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')).bin.socklife);

// allowHalfOpen and no end(): every connection whose peer ends stays in CLOSE_WAIT.
const SERVER = `const s = require('net').createServer({ allowHalfOpen: true }, () => {})
  .listen(0, '127.0.0.1', () => console.log(s.address().port));`;
// Three connections, each half-closed with end() (our FIN) and kept open.
const PEER = `let ended = 0;
for (let i = 0; i < 3; i++) {
  const c = require('net').connect({ port: Number(process.argv[1]), host: '127.0.0.1', allowHalfOpen: true },
    () => c.end(() => ++ended === 3 && console.log('ended')));
}
setInterval(() => {}, 60_000);`;

const children = [];
function start(script, ...args) {
  const child = spawn(process.execPath, ['-e', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return { pid: child.pid, firstLine: once(createInterface({ input: child.stdout }), 'line').then(([line]) => line) };
}

try {
  const server = start(SERVER);
  const peer = start(PEER, await server.firstLine);
  await peer.firstLine;
  await new Promise((resolve) => setTimeout(resolve, 1200)); // past doctor's 1 s CLOSE_WAIT threshold
  console.log(`$ socklife doctor --pid ${server.pid}\n`);
  const cli = spawn(process.execPath, [CLI, 'doctor', '--pid', String(server.pid)], { stdio: 'inherit' });
  const [code] = await once(cli, 'exit');
  console.log(`socklife exited with ${code}: 0 healthy, 1 findings, 2 error.`);
  process.exitCode = code === 1 ? 0 : 1; // this example expects the leak to be found
} finally {
  for (const child of children) child.kill();
}
