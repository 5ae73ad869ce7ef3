// The measured process of figure 5 (run with --expose-gc): retained heap before and after
// `count` idle TCP connections, as the server (accepting) or as the client (connecting).
// Instrumentation comes from preload flags.
'use strict';
const net = require('node:net');
const { send, serve, run } = require('./ipc.cjs');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function retainedHeap() {
  for (let i = 0; i < 6; i++) {
    globalThis.gc();
    await sleep(20);
  }
  return process.memoryUsage().heapUsed;
}

run(async () => {
  const o = JSON.parse(process.argv[2]);
  const sockets = [];
  let server;
  if (o.side === 'server') {
    server = net.createServer((socket) => {
      socket.on('error', () => {});
      sockets.push(socket);
    });
    await new Promise((resolve) => server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, resolve));
  }
  // socklife's first poll runs at start-up and loads execa: let it finish before the baseline.
  await sleep(o.settleMs ?? 1500);
  const before = await retainedHeap();
  serve({
    async connect({ port, count }) {
      let connected = 0;
      let started = 0;
      let errors = 0;
      await new Promise((resolve) => {
        const next = () => {
          if (started >= count) return;
          started++;
          const socket = net.connect({ host: '127.0.0.1', port });
          sockets.push(socket);
          const settle = () => {
            connected++;
            if (connected === count) resolve();
            else next();
          };
          socket.once('connect', settle);
          socket.on('error', () => {
            errors++;
            settle();
          });
        };
        for (let i = 0; i < Math.min(256, count); i++) next();
      });
      return { connected, errors };
    },
    async measure({ count, idleMs }) {
      const deadline = Date.now() + 60_000;
      while (sockets.length < count && Date.now() < deadline) await sleep(20);
      // Idle connections are measured as they stay: after socklife's poll has compacted the
      // creation stacks of connections older than a second.
      await sleep(idleMs);
      const after = await retainedHeap();
      return { before, after, sockets: sockets.length, perConnection: (after - before) / sockets.length };
    },
  });
  send({ type: 'ready', port: server?.address().port });
});
