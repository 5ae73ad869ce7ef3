// A program with two CLOSE_WAIT bugs: a half-open server that never calls end(), and a server
// that never reads. It registers no OpenTelemetry SDK: under `--require socklife/register` with
// SOCKLIFE_LOG set its findings still come out; leak-reporter.cjs runs it with an SDK.
const net = require('node:net');

function startHalfOpenServer() {
  return net.createServer({ allowHalfOpen: true }, (socket) => socket.resume()).listen(0, '127.0.0.1');
}
function startNeverReadingServer() {
  return net.createServer((socket) => socket.pause()).listen(0, '127.0.0.1');
}
for (const server of [startHalfOpenServer(), startNeverReadingServer()]) {
  server.on('listening', () => {
    const client = net.connect(server.address().port, '127.0.0.1', () => client.end('data'));
    client.on('connect', () => console.log(`client ${client.localPort} -> ${server.address().port}`));
  });
}
setTimeout(() => process.exit(0), Number(process.env.RUN_MS ?? 2000));
