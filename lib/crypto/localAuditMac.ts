import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../errors.ts';
import type { AuditMac } from './auditMac.ts';

const KEY_LENGTH = 32;
/** Distinct from every other use of the master key: the MAC key is derived, never the key itself. */
const HKDF_INFO = 'healthcare-etl/audit-mac/v1';

/**
 * Embedded-mode stand-in for a KMS HMAC key: HMAC-SHA-256 under a key derived (HKDF-SHA-256)
 * from the local master key, which lives in a file outside the database.
 */
export class LocalAuditMac implements AuditMac {
  readonly keyId: string;
  readonly #key: Buffer;

  constructor(masterKey: Buffer, keyId = 'local-audit-mac') {
    if (masterKey.length !== KEY_LENGTH) {
      throw new ConfigError(`the local master key must be ${KEY_LENGTH} bytes`);
    }
    this.#key = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), HKDF_INFO, KEY_LENGTH));
    this.keyId = keyId;
  }

  async generateMac(message: Buffer): Promise<Buffer> {
    return createHmac('sha256', this.#key).update(message).digest();
  }

  async verifyMac(message: Buffer, mac: Buffer): Promise<boolean> {
    const expected = createHmac('sha256', this.#key).update(message).digest();
    return mac.length === expected.length && timingSafeEqual(mac, expected);
  }
}
