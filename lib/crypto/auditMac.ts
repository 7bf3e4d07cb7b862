/**
 * The port that keys the audit chain: a MAC whose key never sits in the database, so whoever
 * owns the database can neither forge a seal nor a checkpoint. Adapters: KmsAuditMac (an
 * HMAC_256 KMS key in AWS and LocalStack), LocalAuditMac (embedded mode).
 */
export interface AuditMac {
  /** Names the key a MAC was made with; stored beside each seal. */
  readonly keyId: string;
  generateMac(message: Buffer): Promise<Buffer>;
  /** False for a MAC the key did not make over `message`; throws only when the key cannot answer. */
  verifyMac(message: Buffer, mac: Buffer): Promise<boolean>;
}
