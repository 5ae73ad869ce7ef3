// A `cluster` of two workers listening on one port (PORT, on 127.0.0.1), run inside a private
// network namespace under `node --require ./otel-preload.cjs --require socklife/register`:
// the workers inherit those flags, so the primary and each worker run socklife, and print
// their spans (tagged with pid and role) to the same stdout. Under round-robin scheduling the
// primary owns the listening socket and the workers' servers are handles onto it (the
// primary's own net.Server for it gives its handle away once listening: it no longer listens).
// Prints {"type":"ready"} once both workers' socklife knows the listener. Stdin commands:
//   collect   each process prints {"type":"metrics","role":...,"metrics":{...}}
// On stdin's end the workers are killed and the primary exits.
const cluster = require('node:cluster');
const net = require('node:net');

const collect = globalThis[Symbol.for('socklife.test.collect')];
const PORT = Number(process.env.PORT);
const role = cluster.isWorker ? `worker${cluster.worker.id}` : 'primary';
const print = (line) => process.stdout.write(JSON.stringify({ pid: process.pid, role, ...line }) + '\n');
const printMetrics = () => collect().then((metrics) => print({ type: 'metrics', metrics }));

/** Resolves once socklife in this process counts listen overflows: it knows the listener and took the counters' baseline. */
async function listenerSeen() {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const metrics = await collect();
    if ((metrics['tcp.listen.overflows'] ?? []).length > 0) return;
    if (Date.now() > deadline) throw new Error(`socklife in ${role} never counted listen overflows`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

if (cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_RR;
  let ready = 0;
  for (let i = 0; i < 2; i++) {
    cluster.fork().on('message', (message) => {
      if (message === 'ready' && ++ready === 2) print({ type: 'ready' });
      if (message === 'failed') process.exit(1);
    });
  }
  let input = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    input += chunk;
    let newline;
    while ((newline = input.indexOf('\n')) !== -1) {
      const command = input.slice(0, newline).trim();
      input = input.slice(newline + 1);
      if (command !== 'collect') continue;
      printMetrics();
      for (const worker of Object.values(cluster.workers)) worker.send('collect');
    }
  });
  process.stdin.on('end', () => {
    for (const worker of Object.values(cluster.workers)) worker.process.kill();
    process.exit(0);
  });
} else {
  const server = net.createServer((socket) => socket.resume());
  server.listen({ port: PORT, host: '127.0.0.1' }, () => {
    listenerSeen().then(
      () => process.send('ready'),
      (error) => {
        print({ type: 'error', error: String(error) });
        process.send('failed');
      },
    );
  });
  process.on('message', (message) => {
    if (message === 'collect') printMetrics();
  });
}
