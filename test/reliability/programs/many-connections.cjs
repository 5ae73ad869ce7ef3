// 10,000 concurrent connections to an instrumented server, then all closed. The server runs
// here with socklife (from the build) and the real metrics SDK; the clients run in a child
// process of their own (forked with ROLE=client), so each process holds one end of each
// connection. Prints one JSON line: what the tcp.connection.count metric said at the peak and
// after the close, and what was left after stop(): resources added since start, child processes.
const { fork } = require('node:child_process');
const { readdirSync, readFileSync } = require('node:fs');
const net = require('node:net');

const N = Number(process.env.CONNECTIONS ?? 10_000);

if (process.env.ROLE === 'client') {
  const sockets = [];
  let open = 0;
  let port;
  const next = () => {
    if (sockets.length >= N) return;
    const socket = net.connect(port, '127.0.0.1', () => {
      if (++open === N) process.send('connected');
      else next();
    });
    socket.on('error', (error) => {
      console.error(`client: ${error.message}`);
      process.exit(2);
    });
    sockets.push(socket);
  };
  process.on('message', (message) => {
    if (typeof message === 'object' && message.port !== undefined) {
      port = message.port;
      for (let i = 0; i < 200; i++) next(); // 200 handshakes in flight at a time
    }
    if (message !== 'close') return;
    for (const socket of sockets) socket.end();
    process.disconnect();
  });
  return;
}

const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
const { instrument } = require('socklife');

class OnDemandReader extends MetricReader {
  async onForceFlush() {}
  async onShutdown() {}
}

async function connections(reader) {
  const { resourceMetrics } = await reader.collect();
  let total = 0;
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name === 'tcp.connection.count') for (const p of metric.dataPoints) total += p.value;
    }
  }
  return total;
}

async function until(probe, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function children() {
  return readdirSync('/proc').filter((e) => {
    if (!/^\d+$/.test(e)) return false;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(fields[1]) === process.pid && fields[0] !== 'Z';
    } catch {
      return false;
    }
  });
}

function added(before) {
  const left = [...before];
  return process.getActiveResourcesInfo().filter((kind) => {
    const i = left.indexOf(kind);
    if (i === -1) return true;
    left.splice(i, 1);
    return false;
  });
}

(async () => {
  const started = Date.now();
  // The client process and its channel, and stdout (the report goes through it), come before the snapshot.
  const client = fork(__filename, [], { env: { ...process.env, ROLE: 'client' } });
  const clientExit = new Promise((r) => client.once('exit', r));
  void process.stdout;
  const before = process.getActiveResourcesInfo();
  const reader = new OnDemandReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  // Nobody reads the accepted sockets: a FIN could hide behind them, so ss is polled throughout.
  const handle = instrument({ meterProvider, source: 'ss', pollIntervalMs: 500 });
  let accepted = 0;
  const server = net.createServer({ backlog: 4096 }, () => accepted++);
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  client.send({ port: server.address().port });
  await new Promise((resolve, reject) => {
    client.once('message', resolve);
    client.once('exit', (code) => reject(new Error(`client exited with ${code}`)));
  });
  let peak = 0;
  await until(async () => accepted === N && (peak = await connections(reader)) === N, 60_000);
  const connectedMs = Date.now() - started;
  client.send('close');
  let after = -1;
  await until(async () => (after = await connections(reader)) === 0, 60_000);
  handle.stop();
  server.close();
  await clientExit;
  await meterProvider.shutdown();
  await new Promise((r) => setTimeout(r, 200));
  console.log(JSON.stringify({ n: N, accepted, peak, after, added: added(before), children: children(), connectedMs, totalMs: Date.now() - started }));
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
