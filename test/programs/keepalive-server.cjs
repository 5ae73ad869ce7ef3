// Two HTTP servers that close idle keep-alive connections after IDLE_MS (1000 by default) and,
// like many servers and proxies, send no `Keep-Alive: timeout=` hint. With CROSS=1, on the
// second server (b) the second request on a connection meets the server's idle close on the wire: the server closes the
// connection as the request arrives, unanswered, as when its idle timer fires while the
// request is in flight. Prints {"ports":[a,b]} once both listen; exits when stdin closes.
const http = require('node:http');

const idleMs = Number(process.env.IDLE_MS ?? 1000);
const served = new WeakSet();
const listening = [0, 1].map(
  (index) =>
    new Promise((resolve) => {
      const server = http.createServer((req, res) => {
        if (index === 1 && process.env.CROSS === '1' && served.has(req.socket)) {
          req.socket.destroy();
          return;
        }
        served.add(req.socket);
        req.resume();
        res.setHeader('Connection', 'keep-alive'); // set by hand: Node then sends no Keep-Alive hint
        res.end('ok');
      });
      server.keepAliveTimeout = idleMs;
      server.listen(0, '127.0.0.1', () => resolve(server.address().port));
    }),
);
Promise.all(listening).then((ports) => console.log(JSON.stringify({ ports })));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
