// The peer of figure 6: opens `perKind` connections to each leak server, and once all are
// open sends each one's FIN at a random moment within `spreadMs` (16 KiB of data first on the
// paused server's connections), noting when the FIN went out ('finish').
'use strict';
const net = require('node:net');
const { send, serve, run } = require('./ipc.cjs');

run(async () => {
  const { ports, perKind, spreadMs } = JSON.parse(process.argv[2]);
  const sockets = [];
  for (const kind of ['flowing', 'paused']) {
    for (let i = 0; i < perKind; i++) {
      const socket = net.connect({ host: '127.0.0.1', port: ports[kind], allowHalfOpen: true });
      socket.on('error', () => {});
      await new Promise((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      sockets.push({ kind, socket });
    }
  }
  const data = Buffer.alloc(16 * 1024, 120);
  const fins = await Promise.all(
    sockets.map(
      ({ kind, socket }) =>
        new Promise((resolve) => {
          setTimeout(() => {
            socket.once('finish', () => resolve({ kind, serverPort: ports[kind], localPort: socket.localPort, finAt: Date.now() }));
            if (kind === 'paused') socket.write(data);
            socket.end();
          }, Math.random() * spreadMs);
        }),
    ),
  );
  serve({});
  send({ type: 'fins', fins });
});
