// A TIME_WAIT storm: a client that opens a new connection per request and closes first.
//
//   node examples/time-wait-storm.mjs
//
// This process is the server (no socklife). It starts the client in a second process under
// the drop-in, with SOCKLIFE_LOG=stderr, prints what socklife reports there as JSON lines,
// then counts the client's TIME_WAIT sockets with ss. The side that closes first keeps each
// connection in TIME_WAIT for 60 s, holding one of its ephemeral ports towards this server.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const CONNECTIONS = 1000;
const PARALLEL = 20;

if (process.argv[2] === 'client') {
  // The client: one short connection per request; it closes first (end() once answered).
  const port = Number(process.argv[3]);
  const request = () =>
    new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write('ping'));
      socket.once('data', () => socket.end());
      socket.on('close', resolve).on('error', reject);
    });
  let done = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (done < CONNECTIONS) {
        done++;
        await request();
      }
    }),
  );
  console.log(`[client] ${done} connections, each closed by the client first`);
  // Stay a few polls longer, for socklife to look at what the storm left behind.
  setTimeout(() => process.exit(0), 1500);
} else {
  const server = net.createServer((socket) => socket.once('data', () => socket.write('pong')));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  const env = { ...process.env, SOCKLIFE_LOG: 'stderr', SOCKLIFE_POLL_INTERVAL_MS: '200', SOCKLIFE_TIME_WAIT_THRESHOLD: '500' };
  console.log(`[server] listening on 127.0.0.1:${port}; starting the client:`);
  console.log(`  SOCKLIFE_LOG=stderr SOCKLIFE_POLL_INTERVAL_MS=200 SOCKLIFE_TIME_WAIT_THRESHOLD=500 \\`);
  console.log(`    node --import socklife/register examples/time-wait-storm.mjs client ${port}\n`);

  const client = spawn(process.execPath, ['--import', 'socklife/register', fileURLToPath(import.meta.url), 'client', String(port)], {
    env,
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  const findings = [];
  createInterface({ input: client.stderr }).on('line', (line) => {
    if (line.startsWith('{')) findings.push(line);
    console.log(line.startsWith('{') ? `[socklife] ${line}` : `[client stderr] ${line}`);
  });
  const [code] = await once(client, 'exit');
  server.close();

  console.log(
    `\nsocklife in the client reported ${findings.length} finding(s)${findings.length ? ': ' + findings.map((l) => JSON.parse(l).type).join(', ') : ''}.`,
  );
  execFile('ss', ['-t', '-n', '-H', 'state', 'time-wait', 'dport', '=', `:${port}`], (error, stdout) => {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (error) console.log(`ss: ${error.message}`);
    else {
      const count = stdout.split('\n').filter(Boolean).length;
      console.log(`ss: ${count} client sockets in TIME_WAIT towards 127.0.0.1:${port}, each holding one of ${high - low + 1} ephemeral ports for 60 s.`);
    }
    process.exitCode = code;
  });
}
