import { createHmac } from 'node:crypto';
import type { SecretKeyMaterial } from './fieldCipher.ts';

/** `reference`: how a FHIR resource names a patient (`Patient/<id>`), already in one form. */
export type BlindIndexKind = 'mrn' | 'ssn' | 'reference';

/** MRNs are case-sensitive identifiers: only surrounding spaces and Unicode form are normalised. */
export function normalizeMrn(value: string): string {
  return value.trim().normalize('NFC');
}

/** '123-45-6789', '123 45 6789' and '123456789' are the same SSN. */
export function normalizeSsn(value: string): string {
  return value.replace(/\D/g, '');
}

const NORMALIZERS: Readonly<Record<BlindIndexKind, (value: string) => string>> = {
  mrn: normalizeMrn,
  ssn: normalizeSsn,
  reference: (value) => value,
};

/**
 * HMAC-SHA256 of `kind:normalised value` under the index key, for exact-match
 * look-ups without decryption. Callers reject blank values first: every blank
 * value of a kind maps to the same index.
 */
export function blindIndex(
  indexKey: SecretKeyMaterial,
  kind: BlindIndexKind,
  value: string,
): Buffer {
  return createHmac('sha256', indexKey)
    .update(`${kind}:${NORMALIZERS[kind](value)}`, 'utf8')
    .digest();
}

/**
 * A stable UUID (RFC 9562 version 8) from the first 16 bytes of
 * HMAC-SHA256(indexKey, `purpose:value`): the same value always gets the same
 * id, and the id reveals nothing about the value. `purpose` is a constant
 * without ':' that differs from the blind index kinds.
 */
export function deterministicId(
  indexKey: SecretKeyMaterial,
  purpose: string,
  value: Buffer | string,
): string {
  const hmac = createHmac('sha256', indexKey).update(`${purpose}:`, 'utf8');
  const bytes = (typeof value === 'string' ? hmac.update(value, 'utf8') : hmac.update(value))
    .digest()
    .subarray(0, 16);
  bytes.writeUInt8((bytes.readUInt8(6) & 0x0f) | 0x80, 6);
  bytes.writeUInt8((bytes.readUInt8(8) & 0x3f) | 0x80, 8);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
