/**
 * The canonical model the pipeline works on. Every input format (flat records, FHIR
 * Bundles, NDJSON) is normalised into these shapes by Extract before Validate runs.
 */

export const GENDERS = ['male', 'female', 'other', 'unknown'] as const;
export type Gender = (typeof GENDERS)[number];

export interface ConsentFlags {
  readonly data_sharing?: boolean;
  readonly research?: boolean;
}

/** A patient as the flat format sends it, which is also the canonical patient. */
export interface PatientRecord {
  readonly resourceType: 'Patient';
  readonly mrn: string;
  readonly name?: string;
  /** YYYY-MM-DD */
  readonly birthDate?: string;
  readonly gender?: Gender;
  /** NNN-NN-NNNN */
  readonly ssn?: string;
  readonly consent?: ConsentFlags;
}
