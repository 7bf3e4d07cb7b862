import { GenerateMacCommand, type KMSClient, VerifyMacCommand } from '@aws-sdk/client-kms';
import { toKeyServiceError } from '../aws/errors.ts';
import { KeyServiceRefusedError } from '../errors.ts';
import type { AuditMac } from './auditMac.ts';

export interface KmsAuditMacOptions {
  readonly client: KMSClient;
  /** Key id, ARN or alias of an HMAC_256 KMS key (key usage GENERATE_VERIFY_MAC). */
  readonly keyId: string;
}

export class KmsAuditMac implements AuditMac {
  readonly keyId: string;
  readonly #client: KMSClient;

  constructor(options: KmsAuditMacOptions) {
    this.#client = options.client;
    this.keyId = options.keyId;
  }

  async generateMac(message: Buffer): Promise<Buffer> {
    let mac: Uint8Array | undefined;
    try {
      const response = await this.#client.send(
        new GenerateMacCommand({
          KeyId: this.keyId,
          MacAlgorithm: 'HMAC_SHA_256',
          Message: message,
        }),
      );
      mac = response.Mac;
    } catch (error) {
      throw toKeyServiceError('GenerateMac', error);
    }
    if (mac === undefined) throw new KeyServiceRefusedError('KMS GenerateMac returned no MAC');
    return Buffer.from(mac);
  }

  async verifyMac(message: Buffer, mac: Buffer): Promise<boolean> {
    try {
      const response = await this.#client.send(
        new VerifyMacCommand({
          KeyId: this.keyId,
          MacAlgorithm: 'HMAC_SHA_256',
          Message: message,
          Mac: mac,
        }),
      );
      return response.MacValid === true;
    } catch (error) {
      // KMS answers a MAC that does not verify with an error, not with MacValid false.
      if (errorName(error) === 'KMSInvalidMacException') return false;
      throw toKeyServiceError('VerifyMac', error);
    }
  }
}

function errorName(error: unknown): unknown {
  return typeof error === 'object' && error !== null && 'name' in error ? error.name : undefined;
}
