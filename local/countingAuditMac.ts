import type { AuditMac } from '../lib/crypto/auditMac.ts';

/**
 * An AuditMac with the calls it passes on counted: deployed, each is a KMS GenerateMac or
 * VerifyMac, a key-service call like those of CountingKeyService.
 */
export class CountingAuditMac implements AuditMac {
  generated = 0;
  verified = 0;
  readonly #inner: AuditMac;

  constructor(inner: AuditMac) {
    this.#inner = inner;
  }

  get keyId(): string {
    return this.#inner.keyId;
  }

  generateMac(message: Buffer): Promise<Buffer> {
    this.generated += 1;
    return this.#inner.generateMac(message);
  }

  verifyMac(message: Buffer, mac: Buffer): Promise<boolean> {
    this.verified += 1;
    return this.#inner.verifyMac(message, mac);
  }
}
