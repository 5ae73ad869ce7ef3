// A keep-alive client that sends a request on a pooled connection the server already closed.
//
//   node examples/keepalive-reuse.mjs
//
// This process is the server: it closes idle keep-alive connections after 1 s (Node may add
// a second) and, like many servers and proxies, sends no `Keep-Alive: timeout=` hint that
// would tell the client. The client runs in a second process with socklife in code, and
// three keep-alive agents: a plain one, and one for each fix.
//
// The server's FIN reaches the client's idle pooled socket: the kernel puts it in CLOSE_WAIT.
// Node reads that FIN at the next turn of the event loop and drops the socket, unless a
// request goes out first: over a real network when it crosses the FIN in flight; here because
// the client's event loop is blocked until the server has closed and socklife doctor has
// looked. The request is then written on a connection the server has closed, and fails with
// ECONNRESET ("socket hang up"). socklife in the client reports it as a keep-alive race
// (a tcp.keepalive.stale_reuse span), with what to do. Exits by itself.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, readSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SERVER_IDLE_TIMEOUT_MS = 1000;

if (process.argv[2] === 'client') {
  const { BasicTracerProvider, SimpleSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const { instrument } = await import('socklife');

  // socklife in code, every connection a span; this exporter prints each one's TCP states,
  // and the keep-alive race socklife finds.
  const printStates = {
    export(spans, done) {
      for (const span of spans) {
        const a = span.attributes;
        if (span.name === 'tcp.connection') {
          const states = span.events.map((e) => e.attributes['network.connection.state']);
          const how = a['error.type'] === undefined ? '' : `, ${a['error.type']}`;
          console.log(`[socklife] connection from port ${a['network.local.port']}: ${states.join(' -> ')} (${a['tcp.close.reason']}${how})`);
        } else if (span.name === 'tcp.keepalive.stale_reuse') {
          console.log(
            `[socklife] KEEP-ALIVE RACE towards ${a['server.address']}:${a['server.port']}: ${a['http.request.method']} ${a['url.path']}, ` +
              `request ${a['tcp.connection.requests']} on the connection, ${a['tcp.keepalive.race']} after ${a['tcp.keepalive.idle_ms']} ms idle ` +
              `(server's FIN seen ${a['tcp.keepalive.peer_fin']}${a['error.type'] === undefined ? '' : `, ${a['error.type']}`})`,
          );
          console.log(`[socklife]   ${span.status.message}`);
        }
      }
      done({ code: 0 });
    },
    shutdown: async () => {},
  };
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(printStates)] });
  const socklife = instrument({ spans: 'all', tracerProvider, pollIntervalMs: 100 });

  const port = Number(process.argv[3]);
  const get = (agent, retry = false) =>
    new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(`${res.statusCode} on ${req.reusedSocket ? 'the pooled' : 'a new'} connection from port ${req.socket.localPort}`));
      });
      req.on('error', (error) => {
        // Fix 2: a request written on a reused socket may have crossed the server's FIN.
        // Retrying is safe for an idempotent request (GET, PUT, DELETE), and Node says when.
        if (retry && req.reusedSocket && error.code === 'ECONNRESET') {
          get(agent).then((result) => resolve(`${error.code} "${error.message}" on the pooled connection; retried: ${result}`));
        } else {
          resolve(`${error.code} "${error.message}" (reusedSocket: ${req.reusedSocket})`);
        }
      });
    });

  const clients = [
    { name: 'keep-alive agent        ', agent: new http.Agent({ keepAlive: true }) },
    // Fix 1: close idle sockets before the server does (agentkeepalive calls it freeSocketTimeout).
    { name: 'fix 1: agent timeout 500', agent: new http.Agent({ keepAlive: true, timeout: 500 }) },
    { name: 'fix 2: retry if reused  ', agent: new http.Agent({ keepAlive: true }), retry: true },
  ];
  const first = await Promise.all(clients.map((c) => get(c.agent)));
  clients.forEach((c, i) => console.log(`[client] ${c.name}  GET #1: ${first[i]}`));
  await new Promise((resolve) => setTimeout(resolve, 700)); // idle: fix 1 closes its socket at 500 ms
  console.log('[client] busy: its event loop is blocked until the server says to go on');
  waitForStdin(); // synchronously: the server writes once doctor has looked
  // All three go out in this same turn of the event loop, before any FIN is read.
  const second = await Promise.all(clients.map((c) => get(c.agent, c.retry)));
  clients.forEach((c, i) => console.log(`[client] ${c.name}  GET #2: ${second[i]}`));
  for (const c of clients) c.agent.destroy();
  setTimeout(() => socklife.stop(), 300); // a poll or two: the race is reported
} else {
  const server = http.createServer((req, res) => {
    res.setHeader('Connection', 'keep-alive'); // set by hand: Node then sends no Keep-Alive hint
    res.end('ok');
  });
  server.keepAliveTimeout = SERVER_IDLE_TIMEOUT_MS;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  console.log(`[server] listening on 127.0.0.1:${port}; closes idle keep-alive connections after ${SERVER_IDLE_TIMEOUT_MS} ms, with no hint`);

  const client = spawn(process.execPath, [fileURLToPath(import.meta.url), 'client', String(port)], { stdio: ['pipe', 'inherit', 'inherit'] });
  const goOn = () => client.stdin.end('\n');
  const fallback = setTimeout(goOn, 15_000); // should the server's idle timeout never fire
  let closedByServer = 0;
  server.on('connection', (socket) => {
    const peerPort = socket.remotePort;
    socket.on('close', () => {
      if (socket.readableEnded) return; // the client closed first: fix 1's idle timeout
      console.log(`[server] closed the idle connection from port ${peerPort} (FIN sent)`);
      // Both idle sockets closed: what the kernel says about the blocked client, seen from outside.
      if (++closedByServer === 2) doctor(client.pid).then(goOn);
    });
  });
  const [code] = await once(client, 'exit');
  clearTimeout(fallback);
  server.close();
  process.exitCode = code;
}

/** Blocks the event loop, without spinning, until stdin has a byte or ends. */
function waitForStdin() {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      readSync(0, Buffer.alloc(1));
      return;
    } catch (error) {
      if (error.code !== 'EAGAIN') throw error;
    }
    Atomics.wait(nap, 0, 0, 20);
  }
}

async function doctor(pid) {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('socklife/package.json');
  const cli = join(dirname(pkg), JSON.parse(readFileSync(pkg, 'utf8')).bin.socklife);
  const args = ['doctor', '--pid', String(pid), '--close-wait-threshold-ms', '0'];
  console.log(`\n$ socklife ${args.join(' ')}`);
  const run = spawn(process.execPath, [cli, ...args], { stdio: 'inherit' });
  await once(run, 'exit');
  console.log();
}
