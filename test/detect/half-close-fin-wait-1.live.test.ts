/**
 * FIN_WAIT_1 on a live socket: a server that ends first, whose peer's ACKs of our FIN are
 * dropped by nftables, in a private network namespace. The server runs in a child process under
 * `--require socklife/register` (the real SDK, spans printed as JSON lines); the peer is another
 * process that never closes. socklife must report `fin_not_acknowledged`, as `ss` sees it.
 */
import { execa } from 'execa';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canUseNetns, createNetns, type Netns } from '../harness/netns.js';
import { startPeer, type Peer } from '../harness/peer.js';
import { skipWithReason } from '../support/requirements.js';
import { waitFor } from '../support/telemetry.js';

const ROOT = join(__dirname, '..', '..');
const SERVER = join(ROOT, 'test', 'programs', 'half-close-server.cjs');
const THRESHOLD_MS = 500;

interface PrintedSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: Record<string, unknown>;
  status: { code: number; message?: string };
  events: Array<{ name: string; attributes: Record<string, unknown> }>;
}
interface Line extends Partial<PrintedSpan> {
  listening?: number;
  accepted?: number;
}

const skip = skipWithReason(await canUseNetns());

describe.skipIf(skip)('FIN_WAIT_1: the peer never acknowledges our FIN (nftables drops its ACKs)', () => {
  let netns: Netns | undefined;
  let server: ReturnType<typeof execa> | undefined;
  let peer: Peer | undefined;
  const lines: Line[] = [];
  let stderr = '';

  beforeAll(async () => {
    netns = await createNetns();
  });

  afterAll(async () => {
    await peer?.stop();
    server?.stdin?.end();
    server?.kill('SIGKILL');
    await netns?.dispose();
  });

  function line<K extends keyof Line>(key: K, timeoutMs = 5000): Promise<NonNullable<Line[K]>> {
    return waitFor(() => lines.find((l) => l[key] !== undefined)?.[key] ?? undefined, timeoutMs, `the server's ${key} line (stderr: ${stderr})`) as Promise<
      NonNullable<Line[K]>
    >;
  }

  function span(predicate: (s: PrintedSpan) => boolean, what: string, timeoutMs: number): Promise<PrintedSpan> {
    return waitFor(
      () => lines.find((l): l is PrintedSpan => typeof l.name === 'string' && predicate(l as PrintedSpan)),
      timeoutMs,
      `${what} (stderr: ${stderr})`,
    );
  }

  it('reports fin_not_acknowledged in FIN_WAIT_1, in the connection’s trace', async () => {
    const ns = netns as Netns;
    const serverPort = randomInt(20_000, 26_000);
    server = execa('ip', ['netns', 'exec', ns.name, process.execPath, '--require', 'socklife/register', SERVER], {
      cwd: ROOT,
      env: {
        SOCKLIFE_POLL_INTERVAL_MS: '100',
        SOCKLIFE_CLOSE_WAIT_THRESHOLD_MS: String(THRESHOLD_MS),
        SOCKLIFE_SOURCE: 'ss',
        SERVER_PORT: String(serverPort),
      },
      stdin: 'pipe',
      buffer: false,
      reject: false,
      timeout: 60_000,
    });
    server.stdin?.on('error', () => undefined);
    createInterface({ input: server.stdout as NodeJS.ReadableStream }).on('line', (text) => {
      if (text.startsWith('{')) lines.push(JSON.parse(text) as Line);
    });
    server.stderr?.on('data', (chunk: Buffer) => {
      if (stderr.length < 16_384) stderr += chunk.toString();
    });
    expect(await line('listening')).toBe(serverPort);

    peer = startPeer(['connect', '127.0.0.1', String(serverPort), 'never'], { netns: ns.name });
    const { localPort: peerPort } = await peer.line('connected');
    expect(await line('accepted')).toBe(peerPort);

    // From now on every pure ACK of the peer is lost: our FIN is never acknowledged.
    await ns.applyRuleset(
      [
        'table inet socklife_half_close {',
        '  chain input {',
        '    type filter hook input priority 0; policy accept;',
        `    tcp sport ${peerPort} tcp dport ${serverPort} tcp flags & (fin | syn | rst | ack) == ack drop`,
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    server.stdin?.write('end\n');

    const stuck = await span((s) => s.name === 'tcp.half_close.stuck', 'a tcp.half_close.stuck span', THRESHOLD_MS + 8000);
    // What the finding says is what the kernel shows (the destroyed socket stays there as an orphan).
    const ss = await ns.exec('ss', ['-tanH', 'state', 'fin-wait-1', '(', 'sport', '=', `:${serverPort}`, 'and', 'dport', '=', `:${peerPort}`, ')']);
    expect(ss.stdout.split('\n').filter((l) => l.trim() !== '')).toHaveLength(1);
    expect(stuck.status.code).toBe(2); // ERROR
    expect(stuck.status.message).toMatch(/fin_wait_1.*fin_not_acknowledged/);
    expect(stuck.attributes).toMatchObject({
      'network.connection.state': 'fin_wait_1',
      'tcp.state.source': 'kernel',
      'tcp.connection.side': 'server',
      'tcp.half_close.stuck.cause': 'fin_not_acknowledged',
      'network.local.port': serverPort,
      'client.port': peerPort,
      'code.function.name': 'startServer',
    });
    expect(Number(stuck.attributes['tcp.half_close.duration'])).toBeGreaterThanOrEqual(THRESHOLD_MS / 1000);
    // Our FIN was sent again and again: the kernel's retransmission counter says so.
    expect(Number(stuck.attributes['tcp.info.retransmits'])).toBeGreaterThanOrEqual(1);

    // The application destroyed the socket on the finding: its connection span ended.
    const connection = await span((s) => s.name === 'tcp.connection' && s.attributes['client.port'] === peerPort, 'the tcp.connection span', 5000);
    expect(stuck.traceId).toBe(connection.traceId);
    expect(stuck.parentSpanId).toBe(connection.spanId);
    const states = connection.events
      .filter((e) => e.name === 'tcp.state_change')
      .map((e) => `${String(e.attributes['network.connection.state'])}/${String(e.attributes['tcp.state.source'])}`);
    expect(states).toEqual(['established/socket_event', 'fin_wait_1/kernel', 'closed/socket_event']);
  });
});
