// The floor under following HTTP requests (figure 8, stated): the least a library must do to
// know each server request on its connection and when its response ended. One wrapper of
// http.Server's emit writes the request's method, target and start time on a record kept on
// its socket, and a subscriber to Node's `http.server.response.finish` channel writes the end
// time. No span context, no model: socklife's request following above this is what it adds.
'use strict';
const dc = require('node:diagnostics_channel');
const http = require('node:http');
const { performance } = require('node:perf_hooks');

const RECORD = Symbol('request-floor');
const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (type, req) {
  if (type === 'request') {
    const socket = req.socket;
    let record = socket[RECORD];
    if (record === undefined) record = socket[RECORD] = { requests: 0, method: '', target: '', startedAt: 0, endedAt: 0 };
    record.requests++;
    record.method = req.method;
    record.target = req.url;
    record.startedAt = performance.now();
  }
  return Reflect.apply(emit, this, arguments);
};
dc.subscribe('http.server.response.finish', ({ socket }) => {
  const record = socket?.[RECORD];
  if (record !== undefined) record.endedAt = performance.now();
});
