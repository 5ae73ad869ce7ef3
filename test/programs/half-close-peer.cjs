// The other end of a half-close, in its own process: it reads, and when the FIN of the end
// under test arrives it keeps its own side open (allowHalfOpen) for HOLD_MS, then ends.
//
//   node half-close-peer.cjs connect HOST PORT HOLD_MS   connects to HOST:PORT
//   node half-close-peer.cjs listen HOST HOLD_MS         listens on HOST, port 0, serves one connection
//
// HOLD_MS `never`: the side stays open until the line `close` arrives on stdin. Prints one
// JSON line per step: {"listening":PORT}, {"connected":{"localPort":N,"peerPort":N}},
// {"fin":true} (the other end's FIN was read), {"closed":true}. Exits when stdin ends, when
// the connection closes, and in any case after EXIT_AFTER_MS (default 60 s): a test never
// waits on it forever. GREETING, when set, is written once connected.
const net = require('node:net');

const [mode, host, ...rest] = process.argv.slice(2);
const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
let connection;

function follow(socket, hold) {
  connection = socket;
  print({ connected: { localPort: socket.localPort, peerPort: socket.remotePort } });
  if (process.env.GREETING) socket.write(process.env.GREETING);
  socket.resume();
  socket.on('error', () => {});
  socket.on('end', () => {
    print({ fin: true });
    if (hold !== 'never') setTimeout(() => socket.end(), Number(hold));
  });
  socket.on('close', () => {
    print({ closed: true });
    process.exit(0);
  });
}

if (mode === 'connect') {
  const [port, hold] = rest;
  const socket = net.connect({ host, port: Number(port), allowHalfOpen: true }, () => follow(socket, hold));
  socket.on('error', (error) => {
    process.stderr.write(`peer: ${error.message}\n`);
    process.exit(1);
  });
} else if (mode === 'listen') {
  const [hold] = rest;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    server.close();
    follow(socket, hold);
  });
  server.listen(0, host, () => print({ listening: server.address().port }));
} else {
  process.stderr.write(`usage: half-close-peer.cjs connect HOST PORT HOLD_MS | listen HOST HOLD_MS\n`);
  process.exit(2);
}

process.stdin.setEncoding('utf8');
process.stdin.on('data', (text) => {
  if (text.split('\n').includes('close')) connection?.end();
});
process.stdin.on('end', () => process.exit(0));
setTimeout(() => process.exit(0), Number(process.env.EXIT_AFTER_MS ?? 60_000)).unref();
