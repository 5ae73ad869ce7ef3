// A short program run under `node --require socklife/register`: one echo round trip, then it
// ends, by process.exit() when EXIT=explicit, or by running out of work otherwise. With
// WAIT_FOR set, it first waits for that file (a fake tool's log: the tool is running).
const { existsSync } = require('node:fs');
const net = require('node:net');

function whenExists(file, then) {
  if (!file || existsSync(file)) then();
  else setTimeout(() => whenExists(file, then), 10);
}

whenExists(process.env.WAIT_FOR, () => {
  const server = net
    .createServer((socket) => socket.pipe(socket))
    .listen(0, '127.0.0.1', () => {
      const client = net.connect(server.address().port, '127.0.0.1', () => client.end('ping'));
      let received = '';
      client.setEncoding('utf8');
      client.on('data', (chunk) => (received += chunk));
      client.on('close', () => {
        console.log(`echo ${received}`);
        server.close();
        if (process.env.EXIT === 'explicit') process.exit(0);
      });
    });
});
