// A TCP server with no instrumentation that never closes a connection: allowHalfOpen and
// no end(), so every connection its peer ends stays in CLOSE_WAIT here (the leak the CLI
// must find), and connections the peer keeps open stay ESTABLISHED (a healthy process).
//
//   node half-open-server.cjs [--host 127.0.0.1] [--pause-on-connect]
//
// --pause-on-connect: never read at all, so the bytes and the FIN the peer sent stay in Recv-Q.
// Prints {"pid":N,"port":P} once listening; exits when stdin closes or on SIGTERM.
const net = require('node:net');
const { parseArgs } = require('node:util');

const { values } = parseArgs({
  options: { host: { type: 'string', default: '127.0.0.1' }, 'pause-on-connect': { type: 'boolean', default: false } },
});
const accepted = [];
const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: values['pause-on-connect'] }, (socket) => {
  accepted.push(socket);
});
server.listen(0, values.host, () => {
  console.log(JSON.stringify({ pid: process.pid, port: server.address().port }));
});
process.stdin.on('end', () => process.exit(0)).resume();
process.on('SIGTERM', () => process.exit(0));
