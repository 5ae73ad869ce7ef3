// A server for the listen-pressure tests, run inside a private network namespace under
// `node --require ./otel-preload.cjs --require socklife/register`. It listens as LISTEN says
// (JSON: [{ "host", "port", "backlog"? }]), reads every connection it accepts and keeps it.
// Once socklife counts listen overflows (a poll took the counters' baseline with its listeners
// known, and a later one the first rise), it prints {"type":"ready"}. Then, one command per stdin line:
//   collect    prints {"type":"metrics","metrics":{...},"accepted":N}
//   stall MS   prints {"type":"stalling"}, blocks its event loop for MS ms, prints {"type":"stalled"}
// It exits when stdin closes. Every line it prints is one JSON object.
const net = require('node:net');

const collect = globalThis[Symbol.for('socklife.test.collect')];
const print = (line) => process.stdout.write(JSON.stringify({ pid: process.pid, ...line }) + '\n');
const specs = JSON.parse(process.env.LISTEN ?? '[]');
let accepted = 0;

const servers = specs.map(({ host, port, backlog }) => {
  const server = net.createServer((socket) => {
    accepted++;
    socket.on('error', () => {});
    socket.resume();
  });
  server.listen({ host, port, ...(backlog === undefined ? {} : { backlog }) });
  return server;
});

async function ready() {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const metrics = await collect();
    if ((metrics['tcp.listen.overflows'] ?? []).length > 0) return;
    if (Date.now() > deadline) throw new Error(`socklife never counted listen overflows: ${JSON.stringify(metrics)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Promise.all(servers.map((s) => new Promise((resolve, reject) => (s.listening ? resolve() : s.once('listening', resolve).once('error', reject)))))
  .then(ready)
  .then(() => print({ type: 'ready', ports: servers.map((s) => s.address().port) }))
  .catch((error) => {
    print({ type: 'error', error: String(error) });
    process.exit(1);
  });

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  input += chunk;
  let newline;
  while ((newline = input.indexOf('\n')) !== -1) {
    const [command, arg] = input.slice(0, newline).trim().split(' ');
    input = input.slice(newline + 1);
    if (command === 'collect') {
      collect().then((metrics) => print({ type: 'metrics', metrics, accepted }));
    } else if (command === 'stall') {
      print({ type: 'stalling' });
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(arg));
      print({ type: 'stalled' });
    }
  }
});
process.stdin.on('end', () => process.exit(0));
