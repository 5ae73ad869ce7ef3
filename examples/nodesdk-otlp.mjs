// socklife in the OpenTelemetry NodeSDK, exporting over OTLP/HTTP.
//
//   OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 node examples/nodesdk-otlp.mjs
//
// Starts a server with a CLOSE_WAIT bug (it never ends a socket its peer closed), lets one
// client connect and close, and exits once socklife has reported the leak and the SDK has
// sent it to the collector (without one, the exporter retries for 10 s, then it says so).
// The thresholds are short so that it takes about a second.
import { NodeSDK } from '@opentelemetry/sdk-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import net from 'node:net';
import { SocklifeInstrumentation } from 'socklife';

let leaks = 0;
const sdk = new NodeSDK({
  serviceName: 'socklife-example',
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  instrumentations: [new SocklifeInstrumentation({ closeWaitThresholdMs: 500, pollIntervalMs: 100 })],
});
sdk.start();

// The bug: allowHalfOpen keeps our side open after the peer's FIN, and nothing ever ends it.
const server = net.createServer({ allowHalfOpen: true }, (socket) => {
  socket.resume();
  socket.on('end', () => {
    leaks++;
    console.log(`peer closed ${socket.remotePort}; this server never calls end(): CLOSE_WAIT`);
  });
});
server.listen(0, '127.0.0.1', () => {
  const client = net.connect(server.address().port, '127.0.0.1', () => client.end());
});

setTimeout(async () => {
  const collector = process.env.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://localhost:4318';
  console.log(`sending the spans to ${collector}`);
  try {
    await sdk.shutdown(); // flushes the leak span to the collector
    console.log(`done: ${leaks} leak(s) made; see tcp.close_wait.leak in your tracing backend`);
    process.exit(0);
  } catch (error) {
    console.error(`could not send the spans to ${collector} (${error.code ?? error.message}): is a collector listening?`);
    process.exit(1);
  }
}, 1500);
