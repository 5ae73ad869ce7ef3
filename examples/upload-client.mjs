// Talks to the upload server from a separate process: one good upload, one empty upload and
// one upload for a busy tenant. Each client POSTs its file, half-closes (FIN) once it is sent,
// as upload clients do, and prints the answer's body.
import net from 'node:net';

const port = Number(process.argv[2]);
const WAIT_MS = 1500;

function upload(label, tenant, body) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      const head = `POST /uploads/${tenant} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: ${body.length}\r\n\r\n`;
      socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
    });
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (text) => (answer += text));
    socket.on('error', () => {});
    const timer = setTimeout(() => resolve(`${label}: no answer after ${WAIT_MS} ms`), WAIT_MS);
    socket.on('end', () => {
      clearTimeout(timer);
      // The answer's body: what follows the blank line after the headers.
      resolve(`${label}: ${answer.slice(answer.indexOf('\r\n\r\n') + 4).trim()}`);
    });
  });
}

const results = await Promise.all([
  upload('good upload (web, 10 KiB)', 'web', Buffer.alloc(10 * 1024, 'a')),
  upload('empty upload (web)', 'web', Buffer.alloc(0)),
  upload('busy tenant (batch, 80 KiB)', 'batch', Buffer.alloc(80 * 1024, 'b')),
]);
for (const line of results) console.log(line);
process.exit(0);
