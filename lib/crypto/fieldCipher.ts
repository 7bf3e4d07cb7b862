import { createCipheriv, createDecipheriv, type KeyObject, randomFillSync } from 'node:crypto';
import { DecryptionError, InternalError } from '../errors.ts';

const VERSION = 0x01;
const KEY_LENGTH = 32;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const HEADER_LENGTH = 1 + IV_LENGTH;
const VERSION_BYTE = Buffer.of(VERSION);
const ZERO_KEY = Buffer.alloc(KEY_LENGTH);

/**
 * A data key as raw bytes, or as a KeyObject made once from them (`createSecretKey`): Node
 * turns raw bytes into a key object on every cipher it creates, which costs more than
 * encrypting a short field, so a stage encrypting thousands of fields passes a KeyObject.
 */
export type SecretKeyMaterial = Buffer | KeyObject;

/**
 * IVs are drawn from the CSPRNG a few thousand at a time: one call per IV costs more than the
 * field's encryption. Each IV is still 96 fresh random bits, used once.
 */
const IV_POOL_SIZE = IV_LENGTH * 4096;
const ivPool = Buffer.alloc(IV_POOL_SIZE);
let ivOffset = IV_POOL_SIZE;

function freshIv(): Buffer {
  if (ivOffset === IV_POOL_SIZE) {
    randomFillSync(ivPool);
    ivOffset = 0;
  }
  const iv = Buffer.from(ivPool.subarray(ivOffset, ivOffset + IV_LENGTH));
  // Handed out once: the pool's copy is wiped as it is taken.
  ivPool.fill(0, ivOffset, ivOffset + IV_LENGTH);
  ivOffset += IV_LENGTH;
  return iv;
}

/** Where a field ciphertext belongs: it decrypts only at this table, column and row. */
export interface FieldAad {
  readonly table: string;
  readonly column: string;
  readonly rowId: string;
}

/** `version ‖ len(table) ‖ table ‖ len(column) ‖ column ‖ len(rowId) ‖ rowId`, lengths as uint32 BE. */
function encodeAad(aad: FieldAad): Buffer {
  const parts = [aad.table, aad.column, aad.rowId];
  const size = parts.reduce((total, part) => total + 4 + Buffer.byteLength(part, 'utf8'), 1);
  const encoded = Buffer.allocUnsafe(size);
  let offset = encoded.writeUInt8(VERSION, 0);
  for (const part of parts) {
    const length = encoded.write(part, offset + 4, 'utf8');
    encoded.writeUInt32BE(length, offset);
    offset += 4 + length;
  }
  return encoded;
}

/**
 * Encrypts one PHI field: `0x01 ‖ 96-bit random IV ‖ AES-256-GCM ciphertext ‖ 16-byte tag`,
 * bound to its table, column and row id.
 */
export function encryptField(
  key: SecretKeyMaterial,
  plaintext: Buffer | string,
  aad: FieldAad,
): Buffer {
  // An all-zero key is a data key zero-filled by DataKeyCache eviction, never a real one.
  if (Buffer.isBuffer(key) && key.equals(ZERO_KEY)) {
    throw new InternalError(`refusing to encrypt ${aad.table}.${aad.column} under a wiped key`);
  }
  const iv = freshIv();
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_LENGTH });
  cipher.setAAD(encodeAad(aad));
  const body =
    typeof plaintext === 'string' ? cipher.update(plaintext, 'utf8') : cipher.update(plaintext);
  cipher.final();
  const total = HEADER_LENGTH + body.length + TAG_LENGTH;
  return Buffer.concat([VERSION_BYTE, iv, body, cipher.getAuthTag()], total);
}

/** Decrypts a field written by encryptField for the same table, column and row id. */
export function decryptField(key: SecretKeyMaterial, ciphertext: Buffer, aad: FieldAad): Buffer {
  const failure = (cause?: unknown): DecryptionError =>
    new DecryptionError(
      `cannot decrypt ${aad.table}.${aad.column}`,
      cause === undefined ? {} : { cause },
    );
  if (ciphertext.length < HEADER_LENGTH + TAG_LENGTH || ciphertext[0] !== VERSION) {
    throw failure();
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, ciphertext.subarray(1, HEADER_LENGTH), {
      authTagLength: TAG_LENGTH,
    });
    decipher.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_LENGTH));
    decipher.setAAD(encodeAad(aad));
    const plaintext = decipher.update(
      ciphertext.subarray(HEADER_LENGTH, ciphertext.length - TAG_LENGTH),
    );
    // GCM is a stream mode: final() only checks the tag and returns no bytes.
    decipher.final();
    return plaintext;
  } catch (error) {
    throw failure(error);
  }
}

export function decryptFieldText(
  key: SecretKeyMaterial,
  ciphertext: Buffer,
  aad: FieldAad,
): string {
  return decryptField(key, ciphertext, aad).toString('utf8');
}
