import { join } from 'node:path';
import { instrument, type SocklifeHandle } from '../../src/index.js';
import { JsonLinesChild } from './json-lines-child.js';
import { createTelemetry, type Telemetry } from './telemetry.js';

const ROOT = join(__dirname, '..', '..');

/** socklife in this process (the client side, a real SDK) and an HTTP server program in another. */
export interface InstrumentedWithServer {
  readonly telemetry: Telemetry;
  readonly handle: SocklifeHandle;
  readonly server: JsonLinesChild;
  /** The ports the server program listens on, as it printed them. */
  readonly ports: number[];
  /** Stops socklife, the server process and the SDK. */
  stop(): Promise<void>;
}

/**
 * Starts socklife in code (polls every 50 ms, no kernel source: the client's own events say
 * what these tests check) and `program` from test/programs with `env`, and waits for the ports
 * it prints.
 */
export async function instrumentedWithServer(program: string, env: Record<string, string>): Promise<InstrumentedWithServer> {
  const telemetry = createTelemetry();
  const handle = instrument({ tracerProvider: telemetry.tracerProvider, meterProvider: telemetry.meterProvider, pollIntervalMs: 50, source: 'none' });
  const server = new JsonLinesChild(undefined, [join(ROOT, 'test', 'programs', program)], { cwd: ROOT, env });
  const ports = await server.waitFor((l) => l['ports'] as number[] | undefined, 10_000, 'the ports');
  return {
    telemetry,
    handle,
    server,
    ports,
    async stop() {
      handle.stop();
      await server.stop();
      await telemetry.shutdown();
    },
  };
}
