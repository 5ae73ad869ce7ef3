// A small HTTP upload service with two real CLOSE_WAIT bugs. Clients POST a file to
// /uploads/<tenant> and half-close (FIN) once it is sent; the server stores it and answers.
// Run it under socklife to see both leaks, each named by its request:
//   node --import ./examples/telemetry.mjs --import socklife/register examples/upload-server.mjs
import http from 'node:http';

// Uploads are stored whole: this demo has no size limit.
const busyTenants = new Set(['batch']);

function storeUpload(req, res) {
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (size === 0) {
      // BUG 1: an empty upload is rejected... and never answered. The client has half-closed
      // and the server keeps its side open for the answer, so the connection sits in CLOSE_WAIT.
      console.error('[upload-server] rejected an empty upload');
      return;
    }
    const answer = `stored ${size} bytes\n`;
    res.writeHead(201, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(answer) }).end(answer);
  });
}

function handleUpload(req, res) {
  const tenant = /^\/uploads\/([\w-]+)$/.exec(req.url ?? '')?.[1];
  if (req.method !== 'POST' || tenant === undefined) {
    res.writeHead(404).end();
    return;
  }
  if (busyTenants.has(tenant)) {
    // BUG 2: a busy tenant's upload is paused (its socket: Node 24 would read on to the FIN)
    // "until a slot frees up"; nothing resumes it, so its data and FIN wait in the kernel.
    req.socket.pause();
    return;
  }
  storeUpload(req, res);
}

export function startUploadServer(port = 0) {
  const server = http.createServer(handleUpload);
  // Upload clients half-close once the file is sent: keep our side open to answer them.
  server.httpAllowHalfOpen = true;
  server.listen(port, '127.0.0.1', () => {
    console.log(`listening on ${server.address().port}`);
  });
  return server;
}

startUploadServer(Number(process.env.PORT ?? 0));
