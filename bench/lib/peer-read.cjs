// The floor under recording every accepted connection (figure 8a, stated): its peer read at
// accept. A span for a connection that resets or that the peer closes first needs the peer's
// address, and once the kernel has closed the socket getpeername() fails, so a recorder that
// may make such a span reads it while the connection is up. This reads it for every accepted
// socket, as socklife's default span policy does with an SDK, and does nothing else.
'use strict';
const dc = require('node:diagnostics_channel');

const PEER = Symbol('peer-read');
dc.subscribe('net.server.socket', ({ socket }) => {
  socket[PEER] = { address: socket.remoteAddress, port: socket.remotePort };
});
