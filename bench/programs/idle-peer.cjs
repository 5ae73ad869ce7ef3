// The other end of figure 5's idle connections: `connect` opens `count` idle connections to
// host:port and keeps them; `accept` listens and keeps every connection it accepts.
'use strict';
const net = require('node:net');
const { send, serve, run } = require('./ipc.cjs');

run(async () => {
  const o = JSON.parse(process.argv[2]);
  const sockets = [];
  if (o.role === 'accept') {
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      sockets.push(socket);
    });
    await new Promise((resolve) => server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, resolve));
    serve({});
    send({ type: 'ready', port: server.address().port });
    return;
  }
  let connected = 0;
  let errors = 0;
  let started = 0;
  await new Promise((resolve) => {
    const next = () => {
      if (started >= o.count) return;
      started++;
      const socket = net.connect({ host: '127.0.0.1', port: o.port });
      sockets.push(socket);
      const settle = () => {
        connected++;
        if (connected === o.count) resolve();
        else next();
      };
      socket.once('connect', settle);
      socket.on('error', () => {
        errors++;
        settle();
      });
    };
    for (let i = 0; i < Math.min(256, o.count); i++) next();
  });
  serve({});
  send({ type: 'done', connected, errors });
});
