// The HTTP server under load (figures 1 and 2): the smallest useful handler, so that any cost
// socklife adds is as visible as it can be, and nothing else in the baseline hides it: no
// headers object, no body buffer, the request read to its end. Instrumentation comes from
// preload flags only.
'use strict';
const http = require('node:http');
const { send, serve, run, cpuTimes } = require('./ipc.cjs');

run(async () => {
  const server = http.createServer((req, res) => {
    req.resume();
    res.end('hello world\n');
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  serve(
    {
      async stats() {
        const sdk = globalThis.__benchSdk ? await globalThis.__benchSdk.flush() : undefined;
        return { sdk, rssBytes: process.memoryUsage().rss, cpu: cpuTimes() };
      },
    },
    async () => server.close(),
  );
  send({ type: 'ready', port: server.address().port });
});
