// The peer for figure 3: accepts, writes a few bytes and closes (it is the active closer, so
// TIME_WAIT stays here and the client's ephemeral ports are free again at once).
'use strict';
const net = require('node:net');
const { send, serve, run } = require('./ipc.cjs');

run(async () => {
  const reply = Buffer.from('bye\n');
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.end(reply);
  });
  server.maxConnections = 10_000;
  await new Promise((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  serve({}, async () => server.close());
  send({ type: 'ready', port: server.address().port });
});
