// A small upload service with two real CLOSE_WAIT bugs. Clients send a file and half-close
// (FIN); the server stores it and answers. Run it under socklife to see both leaks:
//   node --import ./examples/telemetry.mjs --import socklife/register examples/upload-server.mjs
import net from 'node:net';

// Uploads are stored whole: this demo has no size limit.
const busyTenants = new Set(['batch']);

function handleUpload(socket) {
  const chunks = [];
  let size = 0;
  socket.on('data', (chunk) => {
    size += chunk.length;
    chunks.push(chunk);
  });
  socket.on('end', () => {
    if (size === 0) {
      // BUG 1: an empty upload is rejected... and the socket is never ended. With
      // allowHalfOpen the write side stays open, so the connection sits in CLOSE_WAIT.
      console.error('[upload-server] rejected an empty upload');
      return;
    }
    socket.end(`stored ${size} bytes\n`);
  });
}

function handleTenant(socket, tenant) {
  if (busyTenants.has(tenant)) {
    // BUG 2: back-pressure for a busy tenant pauses the socket "until a slot frees up" —
    // but nothing ever resumes it. The client's data and FIN wait unread in the kernel.
    socket.pause();
    return;
  }
  handleUpload(socket);
}

export function startUploadServer(port = 0) {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.once('readable', () => {
      const header = socket.read(8);
      if (header === null) return;
      const tenant = header.toString('latin1').trim();
      handleTenant(socket, tenant);
      if (!busyTenants.has(tenant)) socket.resume();
    });
  });
  server.listen(port, '127.0.0.1', () => {
    console.log(`listening on ${server.address().port}`);
  });
  return server;
}

startUploadServer(Number(process.env.PORT ?? 0));
