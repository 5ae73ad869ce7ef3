// Opens COUNT connections to HOST:PORT at once (argv: port count [host]) and holds them until
// stdin closes. With WAIT_FOR_GO=1 it first waits for a "go" line on stdin. Prints
// {"type":"started"} once every connect() is called and {"type":"connected","count":N} once
// every handshake finished (from the client's side). Errors are counted, never thrown.
const net = require('node:net');

const [port, count, host = '127.0.0.1'] = process.argv.slice(2);
const print = (line) => process.stdout.write(JSON.stringify(line) + '\n');
const sockets = [];
let connected = 0;
let errors = 0;

function burst() {
  for (let i = 0; i < Number(count); i++) {
    const socket = net.connect(Number(port), host, () => {
      if (++connected === Number(count)) print({ type: 'connected', count: connected, errors });
    });
    socket.on('error', () => errors++);
    sockets.push(socket);
  }
  print({ type: 'started' });
}

process.stdin.setEncoding('utf8');
if (process.env.WAIT_FOR_GO === '1') {
  let input = '';
  const onData = (chunk) => {
    input += chunk;
    if (!input.includes('go\n')) return;
    process.stdin.off('data', onData);
    burst();
  };
  process.stdin.on('data', onData);
  print({ type: 'waiting' });
} else {
  burst();
}
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
