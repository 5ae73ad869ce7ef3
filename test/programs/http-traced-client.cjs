// A keep-alive HTTP client under the real @opentelemetry/instrumentation-http and socklife
// (spans: 'all'): two GETs on one pooled connection, then the pool is destroyed. Prints every
// exported span as a JSON line, with its kind and links, then {"done":true}. Exits when stdin closes.
const { print } = require('./traced-sdk.cjs');

const socklife = require('socklife').instrument({ spans: 'all', source: 'none' });
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
registerInstrumentations({ instrumentations: [new HttpInstrumentation()] });
const http = require('node:http');

const server = http.createServer((req, res) => res.end('ok'));
server.listen(0, '127.0.0.1', async () => {
  const agent = new http.Agent({ keepAlive: true });
  const get = (path) =>
    new Promise((resolve) => http.get({ host: '127.0.0.1', port: server.address().port, path, agent }, (res) => res.resume().on('end', resolve)));
  await get('/first');
  await get('/orders/7?verbose=1');
  agent.destroy();
  setTimeout(() => print({ done: true }), 100);
});
process.stdin.resume();
process.stdin.on('end', () => {
  socklife.stop();
  process.exit(0);
});
