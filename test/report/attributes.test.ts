import { ATTR_NETWORK_CONNECTION_STATE as SEMCONV_CONNECTION_STATE } from '@opentelemetry/semantic-conventions/incubating';
import { describe, expect, it } from 'vitest';
import { ATTR, ATTR_NETWORK_CONNECTION_STATE } from '../../src/report/attributes.js';

describe('attribute names', () => {
  it("the copied incubating name is the semantic conventions' own", () => {
    expect(ATTR_NETWORK_CONNECTION_STATE).toBe(SEMCONV_CONNECTION_STATE);
  });

  it('are semconv names or live under tcp.* and nodejs.*', () => {
    const semconv = /^(network|server|client|error|code)\./;
    for (const name of Object.values(ATTR)) expect(name).toMatch(semconv.test(name) ? semconv : /^(tcp|nodejs)\./);
  });
});
