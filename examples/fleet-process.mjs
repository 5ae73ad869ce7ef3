// One process of the fleet example (examples/fleet.mjs): a small service under the socklife
// drop-in whose metrics Prometheus scrapes through @opentelemetry/exporter-prometheus.
//
//   SOCKLIFE_CLOSE_WAIT_THRESHOLD_MS=1000 SOCKLIFE_POLL_INTERVAL_MS=200 \
//     node --import socklife/register examples/fleet-process.mjs leak|timewait|clean
//
// leak:     a server that never ends the connections its clients closed (CLOSE_WAIT, both
//           causes: one socket read to the end and never ended, one paused and never read);
// timewait: a client that opens one connection per request to its own server and closes
//           first, leaving TIME_WAIT sockets towards it;
// clean:    a keep-alive client and server that reuse one connection, and a pool that closes
//           its idle connections before the server does.
//
// It serves /metrics on a free port of 127.0.0.1 and prints one JSON line once it is ready:
// {"role":"leak","metrics":"127.0.0.1:PORT"}. Its workload starts at the first scrape, so
// that Prometheus sees socklife's counters appear. It runs until it is ended (SIGTERM, SIGINT).
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';

const ROLES = ['leak', 'timewait', 'clean'];
/** timewait: connections opened and closed first; the parent sets SOCKLIFE_TIME_WAIT_THRESHOLD below it. */
const TIME_WAIT_CONNECTIONS = 400;
const role = process.argv[2] ?? '';
if (!ROLES.includes(role)) {
  console.error(`usage: fleet-process.mjs ROLE, ROLE one of ${ROLES.join(', ')}; got ${JSON.stringify(role)}`);
  process.exit(2);
}

// The metrics pipeline: a global meter provider (socklife's drop-in moves its instruments to
// it at its next poll) whose reader is the Prometheus exporter, served by our own server so
// that the port can be a free one.
const exporter = new PrometheusExporter({ preventServerStart: true });
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [exporter] }));
// The workload starts at the first scrape, so that Prometheus sees the counters appear.
let started = false;
const metricsServer = http.createServer((req, res) => {
  exporter.getMetricsRequestHandler(req, res);
  if (started) return;
  started = true;
  workload().catch((error) => {
    console.error(error);
    process.exit(1);
  });
});
metricsServer.listen(0, '127.0.0.1');
await once(metricsServer, 'listening');

/** A TCP server on a free port of 127.0.0.1. */
async function listen(options, onConnection) {
  const server = net.createServer(options, onConnection);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server.address().port;
}

/** Connects, runs `then` once connected, resolves once the socket closed. */
function connection(port, then) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => then(socket));
    socket.on('close', resolve).on('error', reject);
  });
}

const held = [];

async function workload() {
  if (role === 'leak') {
    // allowHalfOpen: the server must end the socket itself once the client has closed, and
    // this one never does. The second connection is paused and never read: its 'end' never
    // comes, and only the kernel knows the client is gone.
    let accepted = 0;
    const port = await listen({ allowHalfOpen: true }, (socket) => {
      held.push(socket);
      if (++accepted === 2) socket.pause();
      else socket.resume();
    });
    await connection(port, (socket) => socket.destroy()); // end_not_called
    await connection(port, (socket) => socket.end('a body the server never reads', () => socket.destroy())); // not_read_to_eof
  } else if (role === 'timewait') {
    // One connection per request, closed by this side first: each leaves a TIME_WAIT socket
    // towards the server for 60 s. One connection stays open, so that socklife learns the
    // destination at its next poll.
    const port = await listen({}, (socket) => {
      socket.on('end', () => socket.end());
      socket.resume();
    });
    held.push(net.connect(port, '127.0.0.1'));
    let opened = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (opened < TIME_WAIT_CONNECTIONS) {
          opened++;
          await connection(port, (socket) => socket.end());
        }
      }),
    );
  } else {
    // A keep-alive agent: one connection, reused for every request, never closed while the
    // process runs.
    const server = http.createServer((req, res) => res.end('ok'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = (through) =>
      http.get({ host: '127.0.0.1', port: server.address().port, agent: through }, (res) => res.resume()).on('error', (error) => console.error(error));
    get(agent);
    setInterval(() => get(agent), 500);
    // A second pool whose idle timeout (500 ms) is shorter than the server's (Node's 5 s):
    // it closes each connection itself before the next request, so its connections turn
    // over (the pool panels' closes, lifetimes and reuse ratio), and no finding is due.
    const shortIdle = new http.Agent({ keepAlive: true, maxSockets: 1, timeout: 500 });
    setInterval(() => get(shortIdle), 1000);
  }
}

console.log(JSON.stringify({ role, metrics: `127.0.0.1:${metricsServer.address().port}` }));
for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => process.exit(0));
