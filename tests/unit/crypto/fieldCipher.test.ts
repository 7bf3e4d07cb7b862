import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decryptField,
  decryptFieldText,
  encryptField,
  type FieldAad,
} from '../../../lib/crypto/fieldCipher.ts';
import { DecryptionError } from '../../../lib/errors.ts';

const key = randomBytes(32);
const aad = { table: 'patients', column: 'given_name', rowId: 'row-1' } satisfies FieldAad;

function decryptError(act: () => unknown): unknown {
  try {
    act();
  } catch (error) {
    return error;
  }
  throw new Error('expected decryption to fail');
}

describe('encryptField / decryptField', () => {
  it.each([
    ['ASCII text', 'Jane Doe'],
    ['non-ASCII text', 'Zoë Ångström 李'],
    ['the empty string', ''],
  ])('round-trips %s', (_, text) => {
    // Prepare
    const ciphertext = encryptField(key, text, aad);

    // Act
    const decrypted = decryptFieldText(key, ciphertext, aad);

    // Assess
    expect(decrypted).toBe(text);
  });

  it.each([
    ['binary bytes', randomBytes(257)],
    ['an empty buffer', Buffer.alloc(0)],
    ['a 1 MB value', randomBytes(1024 * 1024)],
  ])('round-trips %s', (_, value) => {
    // Prepare
    const ciphertext = encryptField(key, value, aad);

    // Act
    const decrypted = decryptField(key, ciphertext, aad);

    // Assess
    expect(decrypted.equals(value)).toBe(true);
  });

  it('lays out version 1, a 12-byte IV, the ciphertext and a 16-byte tag', () => {
    // Prepare
    const plaintext = Buffer.from('123-45-6789');

    // Act
    const ciphertext = encryptField(key, plaintext, aad);

    // Assess
    expect(ciphertext[0]).toBe(1);
    expect(ciphertext.length).toBe(1 + 12 + plaintext.length + 16);
  });

  it('counts the UTF-8 bytes of a text value in the layout', () => {
    // Prepare
    const text = 'Zoë';

    // Act
    const ciphertext = encryptField(key, text, aad);

    // Assess
    expect(ciphertext.length).toBe(1 + 12 + Buffer.byteLength(text, 'utf8') + 16);
  });

  it('gives two encryptions of the same value different IVs and bytes', () => {
    // Prepare
    const value = 'Jane Doe';

    // Act
    const first = encryptField(key, value, aad);
    const second = encryptField(key, value, aad);

    // Assess
    expect(first.subarray(1, 13).equals(second.subarray(1, 13))).toBe(false);
    expect(first.equals(second)).toBe(false);
  });

  it.each<[string, FieldAad]>([
    ['another row id', { ...aad, rowId: 'row-2' }],
    ['another column', { ...aad, column: 'family_name' }],
    ['another table', { ...aad, table: 'encounters' }],
    [
      'a shifted boundary between table and column',
      { ...aad, table: 'patientsg', column: 'iven_name' },
    ],
    [
      'a shifted boundary between column and row id',
      { ...aad, column: 'given_namer', rowId: 'ow-1' },
    ],
  ])('refuses a ciphertext moved to %s', (_, movedTo) => {
    // Prepare
    const ciphertext = encryptField(key, 'Jane Doe', aad);

    // Act
    const error = decryptError(() => decryptField(key, ciphertext, movedTo));

    // Assess
    expect(error).toBeInstanceOf(DecryptionError);
  });

  it('refuses the wrong key', () => {
    // Prepare
    const ciphertext = encryptField(key, 'Jane Doe', aad);

    // Act
    const error = decryptError(() => decryptField(randomBytes(32), ciphertext, aad));

    // Assess
    expect(error).toBeInstanceOf(DecryptionError);
  });

  it('refuses a key of the wrong length', () => {
    // Prepare
    const ciphertext = encryptField(key, 'Jane Doe', aad);

    // Act
    const error = decryptError(() => decryptField(key.subarray(0, 16), ciphertext, aad));

    // Assess
    expect(error).toBeInstanceOf(DecryptionError);
  });

  const plaintext = Buffer.from('Jane Doe');
  const tamperedLength = 1 + 12 + plaintext.length + 16;
  it.each([
    ['the version byte', 0, 1],
    ['the IV', 1, 13],
    ['the body', 13, 13 + plaintext.length],
    ['the tag', tamperedLength - 16, tamperedLength],
  ])('refuses each single flipped byte in %s', (_, from, to) => {
    // Prepare
    const original = encryptField(key, plaintext, aad);
    const positions = Array.from({ length: to - from }, (_unused, offset) => from + offset);

    // Act
    const refused = positions.filter((index) => {
      const tampered = Buffer.from(original);
      tampered.writeUInt8(tampered.readUInt8(index) ^ 0x01, index);
      return decryptError(() => decryptField(key, tampered, aad)) instanceof DecryptionError;
    });

    // Assess
    expect(refused).toEqual(positions);
  });

  it.each([
    ['empty input', 0],
    ['the version byte only', 1],
    ['a header without a tag', 13],
    ['one byte short of the minimum', 28],
    ['the tag cut short', tamperedLength - 1],
  ])('refuses truncated input: %s', (_, length) => {
    // Prepare
    const ciphertext = encryptField(key, plaintext, aad).subarray(0, length);

    // Act
    const error = decryptError(() => decryptField(key, ciphertext, aad));

    // Assess
    expect(error).toBeInstanceOf(DecryptionError);
  });

  it('refuses an unknown version', () => {
    // Prepare
    const ciphertext = encryptField(key, plaintext, aad);
    ciphertext.writeUInt8(2, 0);

    // Act
    const error = decryptError(() => decryptField(key, ciphertext, aad));

    // Assess
    expect(error).toBeInstanceOf(DecryptionError);
  });

  it('names the table and column but neither the plaintext nor the row id in its error', () => {
    // Prepare
    const secret = 'SSN 123-45-6789';
    const ciphertext = encryptField(key, secret, aad);

    // Act
    const error = decryptError(() => decryptField(key, ciphertext, { ...aad, rowId: 'row-9' }));

    // Assess
    expect(error).toBeInstanceOf(DecryptionError);
    const message = (error as DecryptionError).message;
    expect(message).toContain('patients');
    expect(message).toContain('given_name');
    expect(message).not.toContain(secret);
    expect(message).not.toContain('row-');
  });

  it('refuses to encrypt under a zero-filled key', () => {
    // Prepare
    const wiped = Buffer.alloc(32);

    // Act
    const act = () => encryptField(wiped, 'Jane Doe', aad);

    // Assess
    expect(act).toThrow(/wiped key/);
  });
});
