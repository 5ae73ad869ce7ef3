import { context, ProxyTracerProvider, trace, type TracerProvider } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newConnection, type Connection } from '../../src/model/connection.js';
import { RECORD_NOTHING } from '../../src/model/recording-policy.js';
import { recordingPolicyFor } from '../../src/report/recording-policy.js';
import type { SpanPolicy } from '../../src/report/span-policy.js';
import { FakeSocket } from '../model/fixture.js';
import { FakeTracerProvider } from './fake-tracer.js';

/** What the span policy tells the model to record. */

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
afterAll(() => {
  context.disable();
});

const sdk = new FakeTracerProvider();

function policy(spans: SpanPolicy, requireParentSpan = false, provider: TracerProvider = sdk) {
  return recordingPolicyFor({ spans, requireParentSpan, slowHandshakeMs: 1000, tracerProvider: () => provider });
}

function connection(side: 'client' | 'server'): Connection {
  return newConnection(1, side, 0, undefined, new FakeSocket(8080, 40_000));
}

describe('recordingPolicyFor', () => {
  it('findings: records nothing', () => {
    expect(policy('findings')).toBe(RECORD_NOTHING);
  });

  it('with no SDK behind the global provider: records nothing, under any policy', () => {
    const noSdk = new ProxyTracerProvider();
    expect(policy('all', false, noSdk).record(connection('server'))).toBe(false);
    expect(policy('anomalies', false, noSdk).record(connection('client'))).toBe(false);
    expect(policy('all').record(connection('server'))).toBe(true);
  });

  it('requireParentSpan: a client connection is recorded only inside an active span; a server one always', () => {
    const p = policy('all', true);
    expect(p.record(connection('client'))).toBe(false);
    expect(p.record(connection('server'))).toBe(true);
    const parent = sdk.tracer.startSpan('parent');
    expect(context.with(trace.setSpan(context.active(), parent), () => p.record(connection('client')))).toBe(true);
  });

  it('follows after close every recorded connection under all, only a notable one under anomalies', () => {
    const healthy = { ...connection('server'), closeReason: 'fin' as const, closedAt: 10 };
    const reset = { ...healthy, closeReason: 'reset' as const };
    expect(policy('all').followAfterClose(healthy)).toBe(true);
    expect(policy('anomalies').followAfterClose(healthy)).toBe(false);
    expect(policy('anomalies').followAfterClose(reset)).toBe(true);
  });
});
