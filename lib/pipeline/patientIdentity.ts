import { blindIndex, deterministicId } from '../crypto/blindIndex.ts';
import type { SecretKeyMaterial } from '../crypto/fieldCipher.ts';

/** The patient id is derived from the MRN's blind index: stable across runs, revealing nothing. */
const PATIENT_ID_PURPOSE = 'patient-id';

export interface PatientIdentity {
  readonly id: string;
  readonly mrnBidx: Buffer;
}

/** The id a patient with this MRN has, whether or not it is stored yet. */
export function patientIdentity(indexKey: SecretKeyMaterial, mrn: string): PatientIdentity {
  const mrnBidx = blindIndex(indexKey, 'mrn', mrn);
  return { id: deterministicId(indexKey, PATIENT_ID_PURPOSE, mrnBidx), mrnBidx };
}
