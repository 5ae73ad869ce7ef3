// The floor under a lifecycle model (figure 8a, stated): the least a library must record to
// say, without an SDK, what socklife says of a connection from its socket events. Its state
// from the events (with the time it entered it), a live count of each state (what
// tcp.connection.count reports), both FINs with the byte counters at that moment (a
// half-close, and whether data moved during it), when end() and destroy() were called (a
// close's reason, a CLOSE_WAIT leak's cause), and the close with its reason and byte counts.
// It hears every socket on diagnostics_channel, keeps its record on the socket and in a live
// set, sees the events through one emit wrapper and the calls through wrappers of end() and
// destroy(). No transition table, no sources, no listener, no metrics, no requests: socklife's
// cost above this (without request following) is what its structure adds.
'use strict';
const dc = require('node:diagnostics_channel');
const net = require('node:net');
const { performance } = require('node:perf_hooks');

const ORIGIN = performance.timeOrigin;
const now = () => ORIGIN + performance.now();
const CLOSED = 0;
const SYN_SENT = 1;
const ESTABLISHED = 2;
const FIN_WAIT_1 = 3;
const CLOSE_WAIT = 4;
const LAST_ACK = 5;
const TIME_WAIT = 6;
const counts = new Int32Array(7);
const live = new Set();
const RECORD = Symbol('model-floor');

function setState(r, state, time) {
  counts[r.state]--;
  r.state = state;
  r.stateSince = time;
  counts[state]++;
}

function fin(r, socket, by, time) {
  const mark = { by, at: time, bytesRead: socket.bytesRead, bytesWritten: socket.bytesWritten };
  if (r.firstFin === undefined) r.firstFin = mark;
  else r.secondFin = mark;
}

function opened(socket, side) {
  const time = now();
  const state = side === 'client' ? SYN_SENT : ESTABLISHED;
  const r = {
    side,
    state,
    stateSince: time,
    createdAt: time,
    firstFin: undefined,
    secondFin: undefined,
    peerFinAt: undefined,
    localFinAt: undefined,
    endCalledAt: undefined,
    destroyCalledAt: undefined,
    closedAt: undefined,
    closeReason: undefined,
    bytesRead: 0,
    bytesWritten: 0,
  };
  counts[state]++;
  live.add(r);
  socket[RECORD] = r;
}
dc.subscribe('net.server.socket', ({ socket }) => opened(socket, 'server'));
dc.subscribe('net.client.socket', ({ socket }) => opened(socket, 'client'));

const proto = net.Socket.prototype;
const emit = proto.emit;
proto.emit = function (type) {
  const r = this[RECORD];
  if (r !== undefined && r.closedAt === undefined) {
    if (type === 'connect') {
      setState(r, ESTABLISHED, now());
    } else if (type === 'finish') {
      const time = now();
      r.localFinAt = time;
      fin(r, this, 'local', time);
      setState(r, r.peerFinAt === undefined ? FIN_WAIT_1 : LAST_ACK, time);
    } else if (type === 'end') {
      const time = now();
      r.peerFinAt = time;
      fin(r, this, 'peer', time);
      setState(r, r.localFinAt === undefined ? CLOSE_WAIT : TIME_WAIT, time);
    } else if (type === 'close') {
      const time = now();
      r.closedAt = time;
      r.bytesRead = this.bytesRead;
      r.bytesWritten = this.bytesWritten;
      r.closeReason = this.errored ? 'error' : r.peerFinAt !== undefined && r.localFinAt !== undefined ? 'fin' : 'destroyed';
      live.delete(r);
      setState(r, CLOSED, time);
    }
  }
  return Reflect.apply(emit, this, arguments);
};

const end = proto.end;
proto.end = function () {
  const r = this[RECORD];
  if (r !== undefined && r.endCalledAt === undefined) r.endCalledAt = now();
  return Reflect.apply(end, this, arguments);
};
const destroy = proto.destroy;
proto.destroy = function () {
  const r = this[RECORD];
  if (r !== undefined && r.destroyCalledAt === undefined) r.destroyCalledAt = now();
  return Reflect.apply(destroy, this, arguments);
};
