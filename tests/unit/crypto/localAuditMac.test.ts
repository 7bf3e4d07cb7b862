import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LocalAuditMac } from '../../../lib/crypto/localAuditMac.ts';
import { ConfigError } from '../../../lib/errors.ts';

const message = Buffer.from('healthcare-etl/audit-seal/v1|7|abcd', 'utf8');

describe('LocalAuditMac', () => {
  it('makes HMAC-SHA-256 under a key derived from the master key with its own HKDF label, not the master key', async () => {
    // Prepare
    const masterKey = randomBytes(32);
    const derived = Buffer.from(
      hkdfSync('sha256', masterKey, Buffer.alloc(0), 'healthcare-etl/audit-mac/v1', 32),
    );

    // Act
    const made = await new LocalAuditMac(masterKey).generateMac(message);

    // Assess
    expect(made.equals(createHmac('sha256', derived).update(message).digest())).toBe(true);
    expect(made.equals(createHmac('sha256', masterKey).update(message).digest())).toBe(false);
  });

  it('verifies its own MAC, and nothing else: another message, another key, a truncated MAC', async () => {
    // Prepare
    const masterKey = randomBytes(32);
    const mac = new LocalAuditMac(masterKey);
    const made = await mac.generateMac(message);

    // Act
    const results = await Promise.all([
      mac.verifyMac(message, made),
      mac.verifyMac(Buffer.from('healthcare-etl/audit-seal/v1|8|abcd'), made),
      new LocalAuditMac(randomBytes(32)).verifyMac(message, made),
      mac.verifyMac(message, made.subarray(0, 16)),
    ]);

    // Assess
    expect(results).toEqual([true, false, false, false]);
  });

  it('keeps working when the caller zeroes its master key buffer', async () => {
    // Prepare
    const masterKey = randomBytes(32);
    const mac = new LocalAuditMac(Buffer.from(masterKey));
    const before = await mac.generateMac(message);

    // Act
    masterKey.fill(0);

    // Assess
    expect((await mac.generateMac(message)).equals(before)).toBe(true);
  });

  it('refuses a master key that is not 32 bytes', () => {
    // Act
    const attempt = () => new LocalAuditMac(randomBytes(16));

    // Assess
    expect(attempt).toThrow(ConfigError);
  });
});
