// One process, instrumented in-process by socklife, that leaks the way doctor looks for:
//
//   node instrumented-leaker.cjs --log FILE --threshold-ms T --time-wait-threshold N [--leaks K] [--time-waits M]
//
// - a server that never closes what its peer closed (allowHalfOpen, reads to the end): its K
//   accepted sockets sit in CLOSE_WAIT, and the K clients of this same process that ended them
//   sit in FIN_WAIT_2;
// - a second server that closes every connection first: M connections leave M TIME_WAIT
//   sockets on its listening port.
// socklife's findings go to FILE as JSON lines (closeWaitThresholdMs T for CLOSE_WAIT and the
// half-close, timeWaitThreshold N). Prints {"pid","leakPort","timeWaitPort","leakClientPorts"}
// once everything is in place; exits when stdin closes or on SIGTERM.
const net = require('node:net');
const { join } = require('node:path');
const { parseArgs } = require('node:util');
const { instrument } = require(join(__dirname, '..', '..', '..', 'dist', 'cjs', 'index.js'));

const { values } = parseArgs({
  options: {
    log: { type: 'string' },
    'threshold-ms': { type: 'string' },
    'time-wait-threshold': { type: 'string' },
    leaks: { type: 'string', default: '3' },
    'time-waits': { type: 'string', default: '30' },
  },
});

instrument({
  pollIntervalMs: 100,
  closeWaitThresholdMs: Number(values['threshold-ms']),
  timeWaitThreshold: Number(values['time-wait-threshold']),
  log: values.log,
});

const held = [];

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

/** Never ends a socket whose peer ended: CLOSE_WAIT, with the FIN read ('end' emitted). */
const leaking = net.createServer({ allowHalfOpen: true }, (socket) => {
  held.push(socket);
  socket.resume();
});

/** Ends every connection at once: the server closes first, so its side keeps TIME_WAIT. */
const closing = net.createServer((socket) => {
  socket.resume();
  socket.end();
});

function halfClose(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
      held.push(socket);
      socket.end(() => resolve(socket.localPort));
    });
    socket.once('error', reject);
  });
}

function connectAndClose(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.resume();
    socket.once('close', resolve);
    socket.once('error', reject);
  });
}

(async () => {
  const [leakPort, timeWaitPort] = await Promise.all([listen(leaking), listen(closing)]);
  const leakClientPorts = [];
  for (let i = 0; i < Number(values.leaks); i++) leakClientPorts.push(await halfClose(leakPort));
  for (let i = 0; i < Number(values['time-waits']); i++) await connectAndClose(timeWaitPort);
  console.log(JSON.stringify({ pid: process.pid, leakPort, timeWaitPort, leakClientPorts }));
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
process.stdin.on('end', () => process.exit(0)).resume();
process.on('SIGTERM', () => process.exit(0));
