// The floor under creation stacks (figure 3, stated): preloaded after instrumentation-net, it
// captures each client socket's creation stack the way socklife does (32 frames, formatted
// lazily, kept on the socket until it closes), so that socklife with stacks on can be set
// against a span-per-connection instrumentation that pays for the same stacks.
'use strict';
const dc = require('node:diagnostics_channel');

const STACK = Symbol('creation-stack');
const FRAMES = 32;
dc.subscribe('net.client.socket', ({ socket }) => {
  const holder = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = FRAMES;
  Error.captureStackTrace(holder);
  Error.stackTraceLimit = limit;
  socket[STACK] = holder;
});
