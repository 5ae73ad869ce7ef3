// The measured process of figure 6 (preloaded with the SDK and socklife/register): two
// servers whose every connection leaks in CLOSE_WAIT once the peer sends its FIN:
//   `flowing` reads to EOF and never calls end()      → cause end_not_called
//   `paused`  never reads, so 'end' never comes        → cause not_read_to_eof (kernel only)
// Each tcp.close_wait.leak span is reported the moment it ends.
'use strict';
const net = require('node:net');
const { send, serve, run } = require('./ipc.cjs');

run(async () => {
  const held = [];
  globalThis.__benchSdk.onEnd = (span) => {
    if (span.name !== 'tcp.close_wait.leak') return;
    const endedAt = Date.now();
    send({
      type: 'leak',
      endedAt,
      localPort: span.attributes['network.local.port'],
      peerPort: span.attributes['network.peer.port'],
      cause: span.attributes['tcp.close_wait.cause'],
      durationMs: span.attributes['tcp.close_wait.duration_ms'],
    });
  };
  const flowing = net.createServer({ allowHalfOpen: true }, (socket) => {
    held.push(socket);
    socket.on('error', () => {});
    socket.resume();
  });
  const paused = net.createServer({ allowHalfOpen: true }, (socket) => {
    held.push(socket);
    socket.on('error', () => {});
    socket.pause();
  });
  const listen = (server) => new Promise((resolve) => server.listen({ host: '127.0.0.1', port: 0, backlog: 1024 }, () => resolve(server.address().port)));
  const ports = { flowing: await listen(flowing), paused: await listen(paused) };
  serve({ status: () => ({ held: held.length }) });
  send({ type: 'ready', ports });
});
