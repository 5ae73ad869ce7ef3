import { describe, expect, it } from 'vitest';
import { normalizeAddress } from '../../src/observe/kernel/address.js';

describe('normalizeAddress', () => {
  it('lower-cases IPv6, with or without brackets and scope', () => {
    expect(normalizeAddress('FE80::1')).toBe('fe80::1');
    expect(normalizeAddress('[2001:DB8::A]')).toBe('2001:db8::a');
    expect(normalizeAddress('[FE80::1%eth0]')).toBe('fe80::1');
  });

  it('unwraps an IPv4-mapped address, whatever its case', () => {
    expect(normalizeAddress('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeAddress('[::FFFF:10.0.0.7]')).toBe('10.0.0.7');
  });

  it('gives a dotted quad back as it is', () => {
    expect(normalizeAddress('127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeAddress('[192.168.1.20]')).toBe('192.168.1.20');
  });
});
