import {
  DecryptCommand,
  GenerateDataKeyCommand,
  type GenerateDataKeyCommandOutput,
  type KMSClient,
} from '@aws-sdk/client-kms';
import {
  AppError,
  isTransientServiceError,
  KeyServiceRefusedError,
  KeyServiceUnavailableError,
  serviceErrorLabel,
} from '../errors.ts';
import type { EncryptionContext, GeneratedDataKey, KeyService } from './keyService.ts';

const UNAVAILABLE_NAMES: ReadonlySet<string> = new Set([
  'ThrottlingException',
  'KMSInternalException',
  'DependencyTimeoutException',
  'KeyUnavailableException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);

/** The one mapping from KMS and network failures to the errors the state machine tells apart. */
function toKeyServiceError(operation: string, error: unknown): AppError {
  if (error instanceof AppError) return error;
  // Only the error name survives: SDK messages can quote request details.
  const label = serviceErrorLabel(error);
  return isTransientServiceError(error, UNAVAILABLE_NAMES)
    ? new KeyServiceUnavailableError(`KMS ${operation} unavailable (${label})`, { cause: error })
    : new KeyServiceRefusedError(`KMS ${operation} refused (${label})`, { cause: error });
}

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
