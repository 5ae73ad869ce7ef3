// The far ends of figure 4's CLOSE_WAIT sockets: connects `count` times to host:port, sends
// its FIN at once (end(), so the server side enters CLOSE_WAIT) and keeps every socket open
// (FIN_WAIT_2 here, for as long as this process lives).
'use strict';
const net = require('node:net');
const { send, serve, run } = require('./ipc.cjs');

run(async () => {
  const { host, port, count, concurrency = 256 } = JSON.parse(process.argv[2]);
  const sockets = [];
  let started = 0;
  let finished = 0;
  let errors = 0;
  await new Promise((resolve) => {
    const next = () => {
      if (started >= count) return;
      started++;
      const socket = net.connect({ host, port, allowHalfOpen: true });
      sockets.push(socket);
      socket.on('error', () => {
        errors++;
        done();
      });
      socket.on('connect', () => socket.end());
      socket.on('finish', done);
      socket.resume();
      let counted = false;
      function done() {
        if (counted) return;
        counted = true;
        finished++;
        if (finished === count) resolve();
        else next();
      }
    };
    for (let i = 0; i < Math.min(concurrency, count); i++) next();
  });
  serve({});
  send({ type: 'done', count, errors });
});
