// Runs the connection scenarios of the kernel check, one after another, under
// `node --require socklife/register`, and prints every finished socklife span as a JSON line
// (name, kind, attributes, events). Meant to run inside a private network namespace, where
// SCENARIO_DROPPED_PORT has its SYNs dropped by nftables (for the connect timeout).
const { trace } = require('@opentelemetry/api');
const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const net = require('node:net');
const { once } = require('node:events');

const printer = {
  export(spans, done) {
    for (const s of spans) {
      const events = s.events.map((e) => ({ name: e.name, attributes: e.attributes }));
      console.log(JSON.stringify({ name: s.name, kind: s.kind, attributes: s.attributes, events }));
    }
    done({ code: 0 });
  },
  shutdown: async () => {},
};
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(printer)] }));

const HOST = process.env.SCENARIO_HOST ?? '127.0.0.1';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const closed = (socket) => new Promise((resolve) => socket.once('close', resolve));

async function server(onConnection, options = {}) {
  const srv = net.createServer(options, onConnection);
  srv.listen(0, HOST);
  await once(srv, 'listening');
  return srv;
}

function mark(name, client) {
  console.log(JSON.stringify({ scenario: name, clientPort: client.localPort }));
}

const scenarios = {
  async 'close-client-first'() {
    const srv = await server((s) => s.resume());
    const c = net.connect(srv.address().port, HOST);
    await once(c, 'connect');
    mark('close-client-first', c);
    c.resume();
    c.end('bye');
    await closed(c);
    srv.close();
  },
  async 'close-server-first'() {
    const srv = await server((s) => setTimeout(() => s.end('bye'), 20));
    const c = net.connect(srv.address().port, HOST);
    await once(c, 'connect');
    mark('close-server-first', c);
    c.resume();
    await closed(c);
    srv.close();
  },
  async 'half-close-with-data'() {
    const srv = await server(
      (s) => {
        s.resume();
        s.on('end', () => {
          s.write(Buffer.alloc(64 * 1024, 'd'));
          setTimeout(() => s.end(Buffer.alloc(1024, 'e')), 100);
        });
      },
      { allowHalfOpen: true },
    );
    const c = net.connect(srv.address().port, HOST);
    await once(c, 'connect');
    mark('half-close-with-data', c);
    c.resume();
    c.end('request');
    await closed(c);
    srv.close();
  },
  async 'server-first-peer-holds'() {
    // The server ends first and the client keeps its side open a while: polls see the server in FIN_WAIT_2.
    const srv = await server((s) => {
      s.resume();
      s.end('bye');
    });
    const c = net.connect({ port: srv.address().port, host: HOST, allowHalfOpen: true });
    await once(c, 'connect');
    mark('server-first-peer-holds', c);
    c.resume();
    c.on('end', () => setTimeout(() => c.end(), 200));
    await closed(c);
    srv.close();
  },
  async 'rst-from-client'() {
    const srv = await server((s) => s.on('error', () => {}).resume());
    const c = net.connect(srv.address().port, HOST);
    await once(c, 'connect');
    mark('rst-from-client', c);
    await sleep(20);
    c.resetAndDestroy();
    await closed(c);
    srv.close();
  },
  async 'rst-from-server'() {
    const srv = await server((s) => setTimeout(() => s.resetAndDestroy(), 20));
    const c = net.connect(srv.address().port, HOST);
    c.on('error', () => {});
    await once(c, 'connect');
    mark('rst-from-server', c);
    await closed(c);
    srv.close();
  },
  async refused() {
    const srv = await server(() => {});
    const port = srv.address().port;
    await new Promise((r) => srv.close(r));
    const c = net.connect(port, HOST);
    c.on('error', () => {});
    c.once('lookup', () => {});
    c.on('connect', () => {});
    setImmediate(() => mark('refused', c));
    await closed(c);
  },
  async 'connect-timeout'() {
    const port = Number(process.env.SCENARIO_DROPPED_PORT);
    const srv = net.createServer(() => {});
    srv.listen(port, HOST);
    await once(srv, 'listening');
    const c = net.connect({ port, host: HOST, timeout: 500 });
    c.on('timeout', () => c.destroy());
    setImmediate(() => mark('connect-timeout', c));
    await closed(c);
    srv.close();
  },
  async 'simultaneous-close'() {
    let accepted;
    const srv = await server((s) => {
      accepted = s;
      s.resume();
    });
    const c = net.connect(srv.address().port, HOST);
    await once(c, 'connect');
    while (accepted === undefined) await sleep(1);
    mark('simultaneous-close', c);
    c.resume();
    c.end();
    accepted.end();
    await closed(c);
    srv.close();
  },
};

(async () => {
  const only = process.argv.slice(2);
  for (const [name, run] of Object.entries(scenarios)) {
    if (only.length > 0 && !only.includes(name)) continue;
    await run();
    await sleep(50);
  }
  // Let the last polls see what the kernel keeps after close.
  await sleep(Number(process.env.SCENARIO_SETTLE_MS ?? 500));
  console.log(JSON.stringify({ done: true }));
  process.exit(0);
})();
