// A cluster of two workers sharing one listening port, run under `--require socklife/register`.
// Worker 1 never reads its connections (not_read_to_eof); worker 2 reads them and never ends
// them (end_not_called). Each worker logs its findings to its own file (SOCKLIFE_LOG set per
// worker) and writes the peer ports it accepted to accepted-<id>.txt in OUT_DIR.
const cluster = require('node:cluster');
const { appendFileSync } = require('node:fs');
const net = require('node:net');
const { join } = require('node:path');

const OUT = process.env.OUT_DIR;
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 6);

if (cluster.isPrimary) {
  let port;
  const workers = [1, 2].map((id) => cluster.fork({ SOCKLIFE_LOG: join(OUT, `worker-${id}.jsonl`), WORKER_ID: String(id) }));
  let listening = 0;
  const clients = [];
  for (const worker of workers) {
    worker.on('message', (message) => {
      if (message.listening === undefined) return;
      port = message.listening;
      if (++listening < workers.length) return;
      for (let i = 0; i < CONNECTIONS; i++) {
        const client = net.connect(port, '127.0.0.1', () => client.end('request'));
        client.on('error', () => {});
        clients.push(client);
      }
      setTimeout(
        () => {
          for (const w of workers) w.kill('SIGKILL');
          console.log('done');
          process.exit(0);
        },
        Number(process.env.RUN_MS ?? 2500),
      );
    });
  }
} else {
  const id = process.env.WORKER_ID;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    appendFileSync(join(OUT, `accepted-${id}.txt`), `${socket.remotePort}\n`);
    if (id === '1') socket.pause();
    else socket.resume();
  });
  // Port 0 in every worker: the cluster gives them all the same port.
  server.listen(0, '127.0.0.1', () => process.send({ listening: server.address().port }));
}
