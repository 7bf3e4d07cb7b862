import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ConfigError, KeyServiceRefusedError } from '../errors.ts';
import type { EncryptionContext, GeneratedDataKey, KeyService } from './keyService.ts';

const VERSION = 0x01;
const KEY_LENGTH = 32;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const WRAPPED_LENGTH = 1 + IV_LENGTH + KEY_LENGTH + TAG_LENGTH;

/** Sorted [key, value] pairs as JSON: key order does not matter and no two contexts collide. */
function contextAad(context: EncryptionContext): Buffer {
  const entries = Object.keys(context)
    .sort()
    .map((key) => [key, context[key]]);
  return Buffer.from(JSON.stringify(entries), 'utf8');
}

/**
 * Embedded-mode stand-in for KMS: wraps data keys with AES-256-GCM under a
 * local master key. Wrapped format: `0x01 ‖ 12-byte IV ‖ ciphertext ‖ 16-byte tag`,
 * with the canonical encryption context as AAD.
 */
export class LocalKeyService implements KeyService {
  readonly masterKeyId: string;
  readonly #masterKey: Buffer;

  constructor(masterKey: Buffer, masterKeyId = 'local') {
    if (masterKey.length !== KEY_LENGTH) {
      throw new ConfigError(`the local master key must be ${KEY_LENGTH} bytes`);
    }
    // A private copy: the caller may zero or reuse its buffer.
    this.#masterKey = Buffer.from(masterKey);
    this.masterKeyId = masterKeyId;
  }

  async generateDataKey(context: EncryptionContext): Promise<GeneratedDataKey> {
    const plaintext = randomBytes(KEY_LENGTH);
    const iv = randomBytes(IV_LENGTH);
    const cipher = createCipheriv('aes-256-gcm', this.#masterKey, iv, {
      authTagLength: TAG_LENGTH,
    });
    cipher.setAAD(contextAad(context));
    const body = cipher.update(plaintext);
    const encrypted = Buffer.concat(
      [Buffer.of(VERSION), iv, body, cipher.final(), cipher.getAuthTag()],
      WRAPPED_LENGTH,
    );
    return { plaintext, encrypted, masterKeyId: this.masterKeyId };
  }

  async decryptDataKey(encrypted: Buffer, context: EncryptionContext): Promise<Buffer> {
    if (encrypted.length !== WRAPPED_LENGTH || encrypted[0] !== VERSION) {
      throw new KeyServiceRefusedError(
        `master key '${this.masterKeyId}' refused the data key: not a wrapped key`,
      );
    }
    try {
      const decipher = createDecipheriv(
        'aes-256-gcm',
        this.#masterKey,
        encrypted.subarray(1, 1 + IV_LENGTH),
        { authTagLength: TAG_LENGTH },
      );
      decipher.setAuthTag(encrypted.subarray(WRAPPED_LENGTH - TAG_LENGTH));
      decipher.setAAD(contextAad(context));
      const plaintext = decipher.update(
        encrypted.subarray(1 + IV_LENGTH, WRAPPED_LENGTH - TAG_LENGTH),
      );
      decipher.final();
      return plaintext;
    } catch (error) {
      throw new KeyServiceRefusedError(
        `master key '${this.masterKeyId}' refused the data key: wrong context, wrong master key or tampered bytes`,
        { cause: error },
      );
    }
  }
}
