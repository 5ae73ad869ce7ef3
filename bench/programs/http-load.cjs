// The load of figure 8: exactly `n` HTTP requests to the measured server, `concurrency` at a
// time, from this separate process (not measured). Each request on a connection of its own
// (Connection: close, the server closes it) or, with keepAlive, `concurrency` connections
// that each send the next request once the last response has ended. Plain sockets, one
// request in flight per connection: the count of requests the server handles is exact.
'use strict';
const net = require('node:net');
const { send, serve, run } = require('./ipc.cjs');

const BODY = 'hello world\n';

function requests({ port, n, concurrency, keepAlive }) {
  const request = Buffer.from(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n${keepAlive ? '' : 'Connection: close\r\n'}\r\n`);
  return new Promise((resolve) => {
    let started = 0;
    let completed = 0;
    let errors = 0;
    let open = 0;
    let made = 0;
    const done = () => {
      if (open === 0 && started >= n) resolve({ completed, errors });
    };
    const connection = () => {
      open++;
      made++;
      const socket = net.connect(port, '127.0.0.1');
      let text = '';
      let failed = false;
      const next = () => {
        if (started >= n) return false;
        started++;
        text = '';
        socket.write(request);
        return true;
      };
      socket.setEncoding('latin1');
      socket.on('connect', () => {
        if (!next()) socket.end();
      });
      socket.on('data', (chunk) => {
        text += chunk;
        if (!text.endsWith(BODY)) return;
        completed++;
        if (keepAlive && !next()) socket.end();
      });
      socket.on('error', () => {
        failed = true;
        errors++;
      });
      socket.on('close', () => {
        open--;
        if (keepAlive ? failed && started < n : made < n) connection();
        done();
      });
    };
    for (let i = 0; i < Math.min(concurrency, n); i++) connection();
  });
}

run(async () => {
  serve({ requests });
  send({ type: 'ready' });
});
