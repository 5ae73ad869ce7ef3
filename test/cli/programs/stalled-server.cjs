// A server whose event loop stops: it listens with a small backlog, says so, then blocks
// its main thread, so connections pile up in the accept queue until the kernel refuses
// more (ListenOverflows). Uninstrumented.
//
//   node stalled-server.cjs [--backlog 2] [--stall-ms 20000]
//
// Prints {"pid":N,"port":P} once listening; stop it with SIGKILL (a blocked loop runs no handlers).
const net = require('node:net');
const { parseArgs } = require('node:util');

const { values } = parseArgs({ options: { backlog: { type: 'string', default: '2' }, 'stall-ms': { type: 'string', default: '20000' } } });
const server = net.createServer(() => {});
server.listen({ port: 0, host: '127.0.0.1', backlog: Number(values.backlog) }, () => {
  console.log(JSON.stringify({ pid: process.pid, port: server.address().port }));
  // stdout to a pipe is written synchronously on Linux, so the line is out before the stall.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(values['stall-ms']));
});
