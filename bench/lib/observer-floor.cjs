// The floor under any socket-lifecycle observer (figure 1a, stated): the least a library must
// do to know when each connection opened, got the peer's FIN, sent its own and closed. It
// hears every socket on diagnostics_channel, keeps a record of four timestamps on the socket,
// and timestamps the four events through one wrapper of net.Socket.prototype.emit. No states,
// no kernel, no telemetry: socklife's cost above this is what its model and reporting add.
'use strict';
const dc = require('node:diagnostics_channel');
const net = require('node:net');
const { performance } = require('node:perf_hooks');

const RECORD = Symbol('observer-floor');
const onSocket = ({ socket }) => {
  socket[RECORD] = { opened: performance.now(), peerFin: 0, localFin: 0, closed: 0 };
};
dc.subscribe('net.server.socket', onSocket);
dc.subscribe('net.client.socket', onSocket);

const emit = net.Socket.prototype.emit;
net.Socket.prototype.emit = function (type) {
  const record = this[RECORD];
  if (record !== undefined) {
    if (type === 'end') record.peerFin = performance.now();
    else if (type === 'finish') record.localFin = performance.now();
    else if (type === 'close') record.closed = performance.now();
  }
  return Reflect.apply(emit, this, arguments);
};
