// The processes of the TIME_WAIT tests, one mode each, plain Node (instrumented only when
// run under `--require socklife/register`). Every line it prints is JSON.
//
//   http-close-server            HTTP server on 127.0.0.1 that answers `Connection: close`:
//                                it ends each connection first. Prints {"listening": [port]}.
//   echo-server N                N plain servers on 127.0.0.1 that answer each read with "ok"
//                                and end only after the client's FIN (Node's default when
//                                allowHalfOpen is off). Prints {"listening": [port, ...]}.
//   http-load PORT COUNT RATE    COUNT one-shot HTTP/1.1 requests to 127.0.0.1:PORT, started
//                                at RATE a second, each on its own connection that the client
//                                ends only after the server's FIN. (Node's http client ends a
//                                `Connection: close` response's socket itself, racing the
//                                server's FIN: either side can end up in TIME_WAIT.)
//                                Prints {"done", "failed", "errors", "ms"}.
//   close-first PORT COUNT RATE  COUNT connections to 127.0.0.1:PORT, started at RATE a
//                                second; each writes, and calls end() first once answered.
//                                Prints {"done", "failed", "errors", "ms"}.
//
// Servers run until killed (or, under otel-stdio.cjs, until stdin ends); the load modes
// exit when done unless something else (otel-stdio.cjs's stdin) keeps the process alive.
const http = require('node:http');
const net = require('node:net');

const [mode, ...args] = process.argv.slice(2);
const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

/**
 * Starts `count` jobs at `rate` a second. Each job settles with undefined (success) or why it
 * failed; resolves with the failures by reason once all have settled.
 */
function paced(count, rate, job) {
  return new Promise((resolve) => {
    const start = Date.now();
    const errors = {};
    let started = 0;
    let settled = 0;
    const settle = (error) => {
      if (error !== undefined) errors[error] = (errors[error] ?? 0) + 1;
      if (++settled === count) resolve(errors);
    };
    const tick = () => {
      const due = Math.min(count, Math.floor(((Date.now() - start) / 1000) * rate) + 1);
      for (; started < due; started++) job(settle);
      if (started < count) setTimeout(tick, 5);
    };
    tick();
  });
}

/** One request; the server's `Connection: close` FIN comes first, and Node ends this side in answer. */
function httpRequest(port, settle) {
  let response = '';
  let error;
  const socket = net.connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
  socket.setEncoding('latin1');
  socket.on('data', (chunk) => (response += chunk));
  socket.on('error', (e) => (error = e.code ?? e.message));
  socket.on('close', () => settle(error ?? (response.startsWith('HTTP/1.1 200') ? undefined : 'bad response')));
}

/** One connection that this side ends first, once the server answered. */
function closeFirst(port, settle) {
  let answered = false;
  let error;
  const socket = net.connect(port, '127.0.0.1', () => socket.write('hello'));
  socket.on('data', () => {
    answered = true;
    socket.end();
  });
  socket.on('error', (e) => (error = e.code ?? e.message));
  socket.on('close', () => settle(error ?? (answered ? undefined : 'no answer')));
}

async function main() {
  switch (mode) {
    case 'http-close-server': {
      const server = http.createServer((req, res) => {
        req.resume();
        res.setHeader('Connection', 'close');
        res.end('ok');
      });
      print({ listening: [await listen(server)] });
      return;
    }
    case 'echo-server': {
      const ports = [];
      for (let i = 0; i < Number(args[0] ?? 1); i++) {
        ports.push(await listen(net.createServer((socket) => socket.on('data', () => socket.write('ok')))));
      }
      print({ listening: ports });
      return;
    }
    case 'http-load':
    case 'close-first': {
      const [port, count, rate] = args.map(Number);
      if (![port, count, rate].every((n) => Number.isInteger(n) && n > 0)) throw new Error(`${mode} needs PORT COUNT RATE, got ${args.join(' ')}`);
      const start = Date.now();
      const errors = await paced(count, rate, (settle) => (mode === 'http-load' ? httpRequest : closeFirst)(port, settle));
      const failed = Object.values(errors).reduce((a, b) => a + b, 0);
      print({ done: count, failed, errors, ms: Date.now() - start });
      return;
    }
    default:
      print({ error: `unknown mode ${mode}` });
      process.exitCode = 2;
  }
}

main().catch((error) => {
  print({ error: String(error) });
  process.exitCode = 1;
});
