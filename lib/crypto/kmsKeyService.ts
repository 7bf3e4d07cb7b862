import {
  DecryptCommand,
  GenerateDataKeyCommand,
  type GenerateDataKeyCommandOutput,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { toKeyServiceError } from '../aws/errors.ts';
import { KeyServiceRefusedError } from '../errors.ts';
import type { EncryptionContext, GeneratedDataKey, KeyService } from './keyService.ts';

/** Wraps the SDK's Uint8Array without copying key material. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export interface KmsKeyServiceOptions {
  readonly client: KMSClient;
  /** Key id, ARN or alias of the customer-managed KMS key. */
  readonly keyId: string;
}

export class KmsKeyService implements KeyService {
  readonly masterKeyId: string;
  readonly #client: KMSClient;

  constructor(options: KmsKeyServiceOptions) {
    this.#client = options.client;
    this.masterKeyId = options.keyId;
  }

  async generateDataKey(context: EncryptionContext): Promise<GeneratedDataKey> {
    let response: GenerateDataKeyCommandOutput;
    try {
      response = await this.#client.send(
        new GenerateDataKeyCommand({
          KeyId: this.masterKeyId,
          KeySpec: 'AES_256',
          EncryptionContext: { ...context },
        }),
      );
    } catch (error) {
      throw toKeyServiceError('GenerateDataKey', error);
    }
    if (response.Plaintext === undefined || response.CiphertextBlob === undefined) {
      throw new KeyServiceRefusedError('KMS GenerateDataKey returned no key');
    }
    return {
      plaintext: asBuffer(response.Plaintext),
      encrypted: asBuffer(response.CiphertextBlob),
      masterKeyId: response.KeyId ?? this.masterKeyId,
    };
  }

  async decryptDataKey(encrypted: Buffer, context: EncryptionContext): Promise<Buffer> {
    let plaintext: Uint8Array | undefined;
    try {
      const response = await this.#client.send(
        new DecryptCommand({
          CiphertextBlob: encrypted,
          EncryptionContext: { ...context },
          KeyId: this.masterKeyId,
        }),
      );
      plaintext = response.Plaintext;
    } catch (error) {
      throw toKeyServiceError('Decrypt', error);
    }
    if (plaintext === undefined) throw new KeyServiceRefusedError('KMS Decrypt returned no key');
    return asBuffer(plaintext);
  }
}
