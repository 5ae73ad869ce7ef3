import { execa } from 'execa';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPacked, packClean, ROOT, type Packed } from './support/packed-project.js';

/**
 * The peer range of @opentelemetry/api that package.json claims, held at both ends: the packed
 * tarball is installed into an empty project beside the API alone, at the floor of the range and
 * at the newest 1.x the registry has, and a leaking server run under `--require socklife/register`
 * must hand its leak span to a tracer provider written against that API and nothing else (no
 * SDK, whose versions would pin the API).
 */

const peerRange = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { peerDependencies: Record<string, string> }).peerDependencies[
  '@opentelemetry/api'
];

/** The lowest version the range admits: `^1.3.0` -> `1.3.0`. */
function floorOf(range: string | undefined): string {
  const m = /^\^(\d+\.\d+\.\d+)$/.exec(range ?? '');
  if (m === null) throw new Error(`the peer range of @opentelemetry/api is ${String(range)}; this test reads a caret range, ^X.Y.Z`);
  return m[1] as string;
}

/** The newest published 1.x of the API, as the registry says now. */
async function newestOne(): Promise<string> {
  const { stdout } = await execa('npm', ['view', '@opentelemetry/api@1', 'version', '--json']);
  const versions = ([] as string[]).concat(JSON.parse(stdout) as string | string[]);
  const newest = versions
    .filter((v) => /^1\.\d+\.\d+$/.test(v))
    .sort((a, b) => compare(a, b))
    .at(-1);
  if (newest === undefined) throw new Error(`npm view listed no release 1.x of @opentelemetry/api: ${stdout}`);
  return newest;
}

function compare(a: string, b: string): number {
  const [x, y] = [a, b].map((v) => v.split('.').map(Number));
  for (let i = 0; i < 3; i++) if ((x?.[i] ?? 0) !== (y?.[i] ?? 0)) return (x?.[i] ?? 0) - (y?.[i] ?? 0);
  return 0;
}

/**
 * A server that never ends the sockets its peer closed, traced by a provider made of the API's
 * interfaces alone: each span records its name, attributes and status, and ends into a list.
 */
const app = `
  const api = require('@opentelemetry/api');
  const { randomBytes } = require('node:crypto');
  const net = require('node:net');
  const started = [];
  const ended = [];
  // What socklife says through the API's diag logger (a failure it caught, an API call missing).
  const say = (...args) => console.error('diag:', ...args);
  api.diag.setLogger({ error: say, warn: say, info() {}, debug() {}, verbose() {} }, api.DiagLogLevel.WARN);
  class RecordingSpan {
    constructor(name, options = {}, parent) {
      const parentContext = parent === undefined ? undefined : api.trace.getSpanContext(parent);
      this.name = name;
      this.attributes = { ...options.attributes };
      this.status = { code: api.SpanStatusCode.UNSET };
      this.context = {
        traceId: parentContext?.traceId ?? randomBytes(16).toString('hex'),
        spanId: randomBytes(8).toString('hex'),
        traceFlags: api.TraceFlags.SAMPLED,
      };
    }
    spanContext() { return this.context; }
    setAttribute(key, value) { this.attributes[key] = value; return this; }
    setAttributes(attributes) { Object.assign(this.attributes, attributes); return this; }
    addEvent() { return this; }
    addLink() { return this; }
    addLinks() { return this; }
    setStatus(status) { this.status = status; return this; }
    updateName(name) { this.name = name; return this; }
    end() { ended.push(this); }
    isRecording() { return true; }
    recordException() {}
  }
  const tracer = {
    startSpan(name, options, parent) {
      const span = new RecordingSpan(name, options, parent);
      started.push(span);
      return span;
    },
    startActiveSpan(name, ...args) {
      const fn = args.pop();
      const span = this.startSpan(name, args[0], args[1]);
      return api.context.with(api.trace.setSpan(args[1] ?? api.context.active(), span), () => fn(span));
    },
  };
  if (!api.trace.setGlobalTracerProvider({ getTracer: () => tracer })) throw new Error('the tracer provider was not registered');
  const server = net.createServer({ allowHalfOpen: true }, () => {}).listen(0, '127.0.0.1', () => {
    net.connect(server.address().port, '127.0.0.1', function () { this.end(); });
  });
  const poll = setInterval(() => {
    const leak = ended.find((s) => s.name === 'tcp.close_wait.leak');
    if (leak === undefined) return;
    const connection = started.find((s) => s.name === 'tcp.connection' && s.attributes['tcp.connection.side'] === 'server');
    console.log(JSON.stringify({
      // Read from the file: newer releases export no ./package.json.
      api: JSON.parse(require('node:fs').readFileSync('node_modules/@opentelemetry/api/package.json', 'utf8')).version,
      attributes: leak.attributes,
      status: leak.status.code,
      sameTraceAsConnection: connection === undefined ? undefined : connection.context.traceId === leak.context.traceId,
    }));
    process.exit(0);
  }, 20);
  setTimeout(() => { console.log('no leak reported'); process.exit(1); }, 10000).unref();
`;

describe(`socklife with @opentelemetry/api at both ends of its peer range (${peerRange})`, () => {
  let packed: Packed;
  const projects = new Map<string, string>();
  const floor = floorOf(peerRange);
  let newest: string;

  beforeAll(async () => {
    newest = await newestOne();
    packed = await packClean();
    for (const version of [floor, newest]) projects.set(version, await installPacked(packed, `api-${version}`, [`@opentelemetry/api@${version}`]));
  }, 240_000);

  afterAll(() => {
    packed?.remove();
  });

  it('the newest 1.x is above the floor: both ends are two versions', () => {
    expect(compare(newest, floor)).toBeGreaterThan(0);
  });

  for (const end of ['floor', 'newest 1.x'] as const) {
    it(`${end}: a CLOSE_WAIT leak reaches a tracer provider written against the API alone`, async () => {
      const version = end === 'floor' ? floor : newest;
      const project = projects.get(version) as string;
      const file = join(project, 'leaking-app.cjs');
      writeFileSync(file, app);
      const { stdout, stderr, exitCode } = await execa(process.execPath, ['--require', 'socklife/register', file], {
        cwd: project,
        env: { SOCKLIFE_CLOSE_WAIT_THRESHOLD_MS: '0', SOCKLIFE_POLL_INTERVAL_MS: '50' },
        reject: false,
        timeout: 20_000,
      });
      expect(exitCode, `stdout: ${stdout}\nstderr: ${stderr}`).toBe(0);
      const result = JSON.parse(stdout) as { api: string; attributes: Record<string, unknown>; status: number; sameTraceAsConnection: boolean | undefined };
      expect(result.api).toBe(version);
      expect(result.attributes).toMatchObject({
        'tcp.close_wait.cause': 'end_not_called',
        'tcp.connection.side': 'server',
        'network.connection.state': 'close_wait',
        'network.transport': 'tcp',
      });
      expect(result.status).toBe(2); // SpanStatusCode.ERROR
      expect(result.sameTraceAsConnection).toBe(true);
      // Nothing said through diag: no API call missing from this version, no failure caught and logged.
      expect(stderr.split('\n').filter((line) => line.startsWith('diag:'))).toEqual([]);
    });
  }
});
