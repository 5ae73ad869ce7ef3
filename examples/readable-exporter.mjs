// A SpanExporter that writes socklife spans as short readable reports instead of JSON.
import { relative } from 'node:path';

const CAUSES = {
  end_not_called: "the peer closed its side ('end' was emitted) and the code never called end()",
  not_read_to_eof: "the stream was never read to the end, so 'end' never fired",
};

function hrToMs([s, ns]) {
  return s * 1000 + ns / 1e6;
}

function bytes(n) {
  return n === undefined ? 'unknown' : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;
}

function where(a) {
  if (a['code.file.path'] === undefined) return 'unknown (stacks off?)';
  const file = relative(process.cwd(), String(a['code.file.path']).replace(/^file:\/\//, ''));
  const fn = a['code.function.name'] ? `${a['code.function.name']} ` : '';
  return `${fn}(${file}:${a['code.line.number']})`;
}

/** The last HTTP request the connection carried, when it carried one: what the code was doing with it. */
function request(a, links) {
  if (a['http.request.method'] === undefined) return [];
  const count = a['tcp.connection.requests'];
  const lines = [`  request: ${a['http.request.method']} ${a['http.route'] ?? a['url.path'] ?? '(path redacted)'} (request ${count} on this connection)`];
  if (a['nodejs.http.request_handler'] !== undefined) lines.push(`  handled by: ${a['nodejs.http.request_handler']}`);
  const link = links?.[0]?.context;
  if (link !== undefined) lines.push(`  request's span: trace ${link.traceId}, span ${link.spanId}`);
  return lines;
}

export class ReadableLeakExporter {
  leaks = 0;

  export(spans, done) {
    for (const span of spans) {
      const a = span.attributes;
      if (span.name === 'tcp.close_wait.leak') {
        this.leaks++;
        const seconds = (hrToMs(span.endTime) - hrToMs(span.startTime)) / 1000;
        console.log(
          [
            `CLOSE_WAIT LEAK #${this.leaks}: ${a['tcp.connection.side']} socket ${a['network.local.address']}:${a['network.local.port']} <- peer ${a['network.peer.address']}:${a['network.peer.port']}`,
            `  stuck in CLOSE_WAIT for ${seconds.toFixed(1)} s (seen by: ${a['tcp.state.source'] === 'kernel' ? 'the kernel' : 'socket events'})`,
            `  cause: ${a['tcp.close_wait.cause']}: ${CAUSES[a['tcp.close_wait.cause']] ?? ''}`,
            `  unread: ${bytes(a['tcp.close_wait.unread_bytes.kernel'])} in the kernel, ${bytes(a['tcp.close_wait.unread_bytes.node'])} in Node's buffer (stream ${a['nodejs.stream.read_mode']})`,
            ...request(a, span.links),
            `  socket made by: ${where(a)}`,
            `  stack:\n${String(a['code.stacktrace'] ?? '')
              .split('\n')
              .slice(0, 4)
              .map((l) => `    ${l}`)
              .join('\n')}`,
            `  trace ${span.spanContext().traceId}, parent span ${span.parentSpanContext?.spanId ?? '-'}`,
          ].join('\n'),
        );
      } else if (span.name === 'tcp.connection') {
        const states = span.events.filter((e) => e.name === 'tcp.state_change').map((e) => e.attributes['network.connection.state']);
        console.log(`connection closed (${a['tcp.connection.side']}, ${a['tcp.close.reason']}): ${states.join(' -> ')}`);
      }
    }
    done({ code: 0 });
  }

  async shutdown() {}
  async forceFlush() {}
}
