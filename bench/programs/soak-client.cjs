// The load of the soak: on 'run', makes `count` connections to the server, `concurrency` at a
// time; each sends a line, reads the reply to the server's FIN, and closes.
'use strict';
const net = require('node:net');
const { send, serve, run } = require('./ipc.cjs');

function churn(port, count, concurrency) {
  return new Promise((resolve) => {
    let started = 0;
    let done = 0;
    let errors = 0;
    const t0 = performance.now();
    const one = () => {
      started++;
      const socket = net.connect(port, '127.0.0.1', () => socket.write('ping\n'));
      socket.on('error', () => errors++);
      socket.resume();
      socket.on('close', () => {
        done++;
        if (started < count) one();
        else if (done === count) resolve({ completed: count - errors, errors, ms: performance.now() - t0 });
      });
    };
    for (let i = 0; i < Math.min(concurrency, count); i++) one();
  });
}

run(async () => {
  const port = Number(process.argv[2]);
  serve({ run: ({ count, concurrency }) => churn(port, count, concurrency) });
  send({ type: 'ready' });
});
