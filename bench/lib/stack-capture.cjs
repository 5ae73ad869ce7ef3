// The floor under creation stacks (figures 3 and 8, stated): preloaded after
// instrumentation-net, it has V8 capture each client socket's stack the way socklife does
// (from below diagnostics_channel's publish, 12 frames) and keeps nothing of it: what any
// stack taken at connect() costs, before anything is read from it or kept.
'use strict';
const dc = require('node:diagnostics_channel');

const FRAMES = 12;
let captured = 0;
dc.subscribe('net.client.socket', () => {
  const holder = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = FRAMES;
  // The publish that called this subscriber: the frames above it are never walked.
  Error.captureStackTrace(holder, dc.channel('net.client.socket').publish);
  Error.stackTraceLimit = limit;
  // Counted, so that the capture cannot be optimized away.
  captured++;
});
module.exports = { captured: () => captured };
