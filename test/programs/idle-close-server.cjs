// An HTTP server that closes each idle keep-alive connection IDLE_MS (1000 by default) after its
// last response, with no Keep-Alive hint: what Node's keepAliveTimeout does, without the extra
// second some Node versions add to it. GET /slow is answered after SLOW_MS (300 by default). Prints {"ports":[a,b]} once both listen; exits when stdin closes.
const http = require('node:http');

const idleMs = Number(process.env.IDLE_MS ?? 1000);
const slowMs = Number(process.env.SLOW_MS ?? 300);
const listening = [0, 1].map(
  () =>
    new Promise((resolve) => {
      const server = http.createServer((req, res) => {
        req.socket.setTimeout(0);
        req.resume();
        res.setHeader('Connection', 'keep-alive'); // set by hand: Node then sends no Keep-Alive hint
        res.on('finish', () => setImmediate(() => req.socket.setTimeout(idleMs)));
        if (req.url === '/slow') setTimeout(() => res.end('ok'), slowMs);
        else res.end('ok');
      });
      server.keepAliveTimeout = 0;
      server.on('timeout', (socket) => socket.destroy());
      server.listen(0, '127.0.0.1', () => resolve(server.address().port));
    }),
);
Promise.all(listening).then((ports) => console.log(JSON.stringify({ ports })));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
