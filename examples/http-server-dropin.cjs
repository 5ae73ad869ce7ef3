// The drop-in on an HTTP server with two CLOSE_WAIT bugs, driven by a client in this process:
//
//   SOCKLIFE_LOG=stderr SOCKLIFE_CLOSE_WAIT_THRESHOLD_MS=1000 SOCKLIFE_POLL_INTERVAL_MS=200 \
//     node --require socklife/register examples/http-server-dropin.cjs
//
// socklife is loaded by --require and configured by the environment only: no line of this
// file mentions it. Its findings are the JSON lines on stderr. Exits by itself.
const http = require('node:http');

const threshold = Number(process.env.SOCKLIFE_CLOSE_WAIT_THRESHOLD_MS ?? 60_000);
const poll = Number(process.env.SOCKLIFE_POLL_INTERVAL_MS ?? 5_000);

const server = http.createServer((req, _res) => {
  // BUG 1: uploads wait for a free slot before their body is read, and no slot ever frees.
  // The socket is paused to hold the body back (Node 24's http server would otherwise read on
  // to the client's FIN and close the connection itself): the client's FIN waits unread in the
  // kernel, 'end' never fires, and Node's http server does not close it (for 5 minutes: its
  // requestTimeout).
  console.log(`[server] upload from port ${req.socket.remotePort}: waiting for a slot before reading it`);
  req.socket.pause();
});

server.on('upgrade', (req, socket) => {
  // BUG 2: an upgraded socket (WebSocket-style) belongs to the application, half-open:
  // when the client leaves, nothing here ends our side.
  socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
  socket.on('data', (data) => socket.write(data));
  socket.on('end', () => console.log(`[server] echo client on port ${socket.remotePort} left; its socket is never ended`));
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  console.log(`[server] listening on 127.0.0.1:${port}`);

  // A client uploading 64 KiB that gives up after 300 ms without an answer (it closes: FIN).
  const upload = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/upload' });
  upload.setTimeout(300, () => {
    console.log('[client] upload: no answer after 300 ms; giving up');
    upload.destroy();
  });
  upload.on('error', () => {});
  upload.end(Buffer.alloc(64 * 1024, 'x'));

  // A client that upgrades, echoes one message, and leaves (FIN).
  const echo = http.request({ port, host: '127.0.0.1', headers: { Connection: 'Upgrade', Upgrade: 'echo' } });
  echo.on('upgrade', (res, socket) => {
    socket.end('hello');
    socket.on('data', (data) => console.log(`[client] echo: got "${data}" back; leaving`));
    socket.resume();
  });
  echo.end();
});

// Long enough for socklife to find both leaks: the client gives up at 0.3 s, then threshold + two polls.
const waitMs = threshold + 2 * poll + 1000;
if (!process.env.SOCKLIFE_LOG || waitMs > 30_000) {
  console.log('Run it as the comment at the top of this file says, to see findings within seconds.');
}
setTimeout(
  () => {
    console.log(`[server] exiting after ${(waitMs / 1000).toFixed(1)} s; socklife's findings are the JSON lines on stderr`);
    process.exit(0);
  },
  Math.min(waitMs, 30_000),
);
