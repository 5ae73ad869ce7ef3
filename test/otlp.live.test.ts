import { execa } from 'execa';
import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { missingTool, skipWithReason } from './support/requirements.js';

const skip = skipWithReason(missingTool('ss'));

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
}
interface OtlpSpan {
  name: string;
  attributes: OtlpAttribute[];
  status?: { code?: number };
}
interface OtlpTraces {
  resourceSpans: Array<{ resource: { attributes: OtlpAttribute[] }; scopeSpans: Array<{ scope: { name: string }; spans: OtlpSpan[] }> }>;
}

function attribute(attributes: OtlpAttribute[], key: string): unknown {
  const value = attributes.find((a) => a.key === key)?.value;
  return value?.stringValue ?? value?.intValue ?? value?.doubleValue ?? value?.boolValue;
}

describe.skipIf(skip)('examples/nodesdk-otlp.mjs', () => {
  it('sends the leak span over OTLP/HTTP to a local collector, decoded as it arrived', async () => {
    const received: OtlpTraces[] = [];
    const collector = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        if (req.url === '/v1/traces' && req.headers['content-type'] === 'application/json') received.push(JSON.parse(body) as OtlpTraces);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    collector.listen(0, '127.0.0.1');
    await once(collector, 'listening');
    try {
      const { port } = collector.address() as AddressInfo;
      const result = await execa(process.execPath, [join(__dirname, '..', 'examples', 'nodesdk-otlp.mjs')], {
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` },
        timeout: 20_000,
        reject: false,
      });
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/done: 1 leak\(s\) made/);
      const spans = received.flatMap((r) =>
        r.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((span) => ({ span, scope: ss.scope.name, resource: rs.resource })))),
      );
      const leak = spans.find((s) => s.span.name === 'tcp.close_wait.leak');
      expect(leak?.scope).toBe('socklife');
      expect(attribute(leak?.resource.attributes ?? [], 'service.name')).toBe('socklife-example');
      expect(attribute(leak?.span.attributes ?? [], 'tcp.close_wait.cause')).toBe('end_not_called');
      expect(attribute(leak?.span.attributes ?? [], 'code.file.path')).toMatch(/nodesdk-otlp\.mjs$/);
      expect(leak?.span.status?.code).toBe(2);
    } finally {
      collector.close();
    }
  });
});
