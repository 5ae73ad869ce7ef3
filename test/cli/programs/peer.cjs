// The other end, in its own process and uninstrumented: connects N times to a server.
//
//   node peer.cjs --port P [--host 127.0.0.1] [--connections 3] [--bytes 0] [--half-close]
//
// --half-close: writes --bytes bytes, then end() (our FIN) while keeping the socket open
// (allowHalfOpen), so each connection sits in FIN_WAIT_2 here once the server has
// acknowledged the FIN, and the server, which never closes, in CLOSE_WAIT.
// Without it the connections stay open: ESTABLISHED on both sides.
// Prints {"pid":N,"localPorts":[...]} once every connection is open (and ended); exits
// when stdin closes or on SIGTERM.
const net = require('node:net');
const { parseArgs } = require('node:util');

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    connections: { type: 'string', default: '3' },
    bytes: { type: 'string', default: '0' },
    'half-close': { type: 'boolean', default: false },
  },
});
const port = Number(values.port);
const count = Number(values.connections);
const payload = Buffer.alloc(Number(values.bytes), 'x');

function open() {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: values.host, allowHalfOpen: true }, () => {
      if (!values['half-close']) return resolve(socket);
      if (payload.length > 0) socket.write(payload);
      socket.end(() => resolve(socket)); // called once the FIN is handed to the kernel
    });
    socket.once('error', reject);
  });
}

(async () => {
  const sockets = [];
  for (let i = 0; i < count; i++) sockets.push(await open());
  console.log(JSON.stringify({ pid: process.pid, localPorts: sockets.map((s) => s.localPort) }));
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
process.stdin.on('end', () => process.exit(0)).resume();
process.on('SIGTERM', () => process.exit(0));
