// `npm run demo`: starts the buggy upload server under socklife (one --import line), drives it
// from a separate client process, and prints what socklife finds, then exits.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

const EXPECTED_LEAKS = 2;
const DEADLINE_MS = 20_000;

// Demo timings, so the leaks show within seconds; production defaults are 5 s and 60 s.
const env = { ...process.env, SOCKLIFE_POLL_INTERVAL_MS: '250', SOCKLIFE_CLOSE_WAIT_THRESHOLD_MS: '2000' };

console.log('socklife demo: an upload server with two CLOSE_WAIT bugs, a client in another process.');
console.log('server: node --import ./examples/telemetry.mjs --import socklife/register examples/upload-server.mjs');
console.log(`        (SOCKLIFE_POLL_INTERVAL_MS=${env.SOCKLIFE_POLL_INTERVAL_MS} SOCKLIFE_CLOSE_WAIT_THRESHOLD_MS=${env.SOCKLIFE_CLOSE_WAIT_THRESHOLD_MS})\n`);

const server = spawn(process.execPath, ['--import', './examples/telemetry.mjs', '--import', 'socklife/register', 'examples/upload-server.mjs'], {
  env,
  stdio: ['ignore', 'pipe', 'inherit'],
});
let leaks = 0;
let finished;
const done = new Promise((resolve) => (finished = resolve));
const deadline = setTimeout(() => finished('deadline'), DEADLINE_MS);

createInterface({ input: server.stdout }).on('line', (line) => {
  const listening = /^listening on (\d+)$/.exec(line);
  if (listening) {
    console.log(`[server] listening on 127.0.0.1:${listening[1]}; starting the client\n`);
    const client = spawn(process.execPath, ['examples/upload-client.mjs', listening[1]], { stdio: ['ignore', 'pipe', 'inherit'] });
    createInterface({ input: client.stdout }).on('line', (l) => console.log(`[client] ${l}`));
    return;
  }
  console.log(line.startsWith('CLOSE_WAIT LEAK') ? `\n[socklife] ${line}` : line.startsWith('  ') ? `[socklife] ${line}` : `[socklife] ${line}`);
  if (line.startsWith('CLOSE_WAIT LEAK')) leaks++;
  if (leaks === EXPECTED_LEAKS && line.startsWith('  trace ')) finished('found');
});
server.on('exit', () => finished('server exited'));

const outcome = await done;
clearTimeout(deadline);
server.kill('SIGTERM');
await once(server, 'exit').catch(() => {});
if (outcome !== 'found') {
  console.error(`\ndemo: expected ${EXPECTED_LEAKS} leaks, saw ${leaks} (${outcome})`);
  process.exit(1);
}
console.log(`\ndemo: socklife found ${leaks} CLOSE_WAIT leaks on real sockets and named the code that made them.`);
