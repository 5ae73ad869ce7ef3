// The instrumented server of the soak (run with --expose-gc and the SDK preload): socklife with
// the real SDK (spans through a BatchSpanProcessor, metrics through an on-demand reader),
// polling every second. Each connection gets a reply and is closed by the server. On 'measure'
// it waits for tcp.connection.count to say 0, then reports it with the retained heap.
'use strict';
const net = require('node:net');
const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
const { send, serve, run } = require('./ipc.cjs');

const { instrument } = require(process.env.BENCH_SOCKLIFE_DIR);

class OnDemandReader extends MetricReader {
  async onForceFlush() {}
  async onShutdown() {}
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function connections(reader) {
  const { resourceMetrics } = await reader.collect();
  let total = 0;
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name === 'tcp.connection.count') for (const p of metric.dataPoints) total += p.value;
    }
  }
  return total;
}

async function retainedHeap() {
  for (let i = 0; i < 6; i++) {
    globalThis.gc();
    await sleep(20);
  }
  return process.memoryUsage().heapUsed;
}

run(async () => {
  const reader = new OnDemandReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const handle = instrument({ meterProvider, pollIntervalMs: Number(process.env.SOAK_POLL_INTERVAL_MS ?? 1000) });
  let accepted = 0;
  const reply = Buffer.from('pong\n');
  const server = net.createServer((socket) => {
    accepted++;
    socket.on('error', () => {});
    socket.once('data', () => socket.end(reply));
  });
  await new Promise((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  serve(
    {
      async measure() {
        let open = await connections(reader);
        const deadline = Date.now() + 30_000;
        while (open !== 0 && Date.now() < deadline) {
          await sleep(100);
          open = await connections(reader);
        }
        const spans = await globalThis.__benchSdk.flush();
        return { connections: open, accepted, heapUsed: await retainedHeap(), rss: process.memoryUsage().rss, source: handle.source, spans: spans.exported };
      },
    },
    async () => {
      handle.stop();
      server.close();
    },
  );
  send({ type: 'ready', port: server.address().port });
});
