import { randomBytes, randomUUID } from 'node:crypto';
import type { PatientRow } from '../../lib/db/repositories/patients.ts';

/**
 * A patient row for tests about SQL, not crypto: random bytes stand in for the blind indexes,
 * digest and sealed MRN and source (HMAC-sized where an HMAC goes), and no other field is set.
 */
export function opaquePatientRow(
  dataKeyId: string,
  overrides: Partial<PatientRow> = {},
): PatientRow {
  return {
    id: randomUUID(),
    mrnBidx: randomBytes(32),
    ssnBidx: null,
    mrnEnc: randomBytes(24),
    nameEnc: null,
    birthDateEnc: null,
    ssnEnc: null,
    addressEnc: null,
    telecomEnc: null,
    sourceEnc: randomBytes(64),
    gender: null,
    recordDigest: randomBytes(32),
    dataKeyId,
    ...overrides,
  };
}
