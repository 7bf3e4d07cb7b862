/**
 * FHIR R4 resources as this pipeline reads them, and the canonical shapes they map to.
 * Only the elements the mapping reads are declared: a validated resource holds whatever
 * else R4 allows, and the mapping keeps it whole, encrypted, as `source`.
 */
import type { Gender, PatientRecord } from '../model.ts';

/** Any R4 element the pipeline keeps as JSON without reading into it. */
export interface FhirElement {
  readonly [element: string]: unknown;
}

export interface FhirCoding {
  readonly system?: string;
  readonly version?: string;
  readonly code?: string;
  readonly display?: string;
}

export interface FhirCodeableConcept {
  readonly coding?: readonly FhirCoding[];
  readonly text?: string;
}

export interface FhirIdentifier {
  readonly use?: string;
  readonly type?: FhirCodeableConcept;
  readonly system?: string;
  readonly value?: string;
}

export interface FhirHumanName {
  readonly use?: string;
  readonly text?: string;
  readonly family?: string;
  readonly given?: readonly string[];
  readonly prefix?: readonly string[];
  readonly suffix?: readonly string[];
}

export interface FhirAddress {
  readonly use?: string;
  readonly type?: string;
  readonly text?: string;
  readonly line?: readonly string[];
  readonly city?: string;
  readonly district?: string;
  readonly state?: string;
  readonly postalCode?: string;
  readonly country?: string;
}

export interface FhirContactPoint {
  readonly system?: string;
  readonly value?: string;
  readonly use?: string;
  readonly rank?: number;
}

export interface FhirReference {
  readonly reference?: string;
  /** A logical reference: the target named by one of its identifiers. */
  readonly identifier?: FhirIdentifier;
  readonly type?: string;
  readonly display?: string;
}

export interface FhirPatient {
  readonly resourceType: 'Patient';
  readonly id?: string;
  readonly identifier?: readonly FhirIdentifier[];
  readonly name?: readonly FhirHumanName[];
  readonly telecom?: readonly FhirContactPoint[];
  readonly gender?: Gender;
  readonly birthDate?: string;
  readonly address?: readonly FhirAddress[];
}

export type FhirConsentStatus =
  | 'draft'
  | 'proposed'
  | 'active'
  | 'rejected'
  | 'inactive'
  | 'entered-in-error';

export interface FhirConsentProvision {
  readonly type?: 'deny' | 'permit';
  readonly purpose?: readonly FhirCoding[];
  readonly provision?: readonly FhirConsentProvision[];
}

export interface FhirConsent {
  readonly resourceType: 'Consent';
  readonly id?: string;
  readonly status?: FhirConsentStatus;
  readonly scope: FhirCodeableConcept;
  readonly category: readonly FhirCodeableConcept[];
  readonly patient?: FhirReference;
  readonly dateTime?: string;
  readonly provision?: FhirConsentProvision;
}

/** A resource of any R4 type, as its type's definition accepted it. */
export interface FhirAnyResource {
  readonly resourceType: string;
  readonly id?: string;
  readonly meta?: unknown;
  readonly [element: string]: unknown;
}

/** The canonical patient of a FHIR Patient: the flat record's fields and what only FHIR carries. */
export interface FhirPatientRecord extends PatientRecord {
  /** Every HumanName (official, maiden, nicknames): `name` shows only the official one. */
  readonly names: readonly FhirHumanName[];
  readonly address?: readonly FhirAddress[];
  readonly telecom?: readonly FhirContactPoint[];
  /** The resource id; a transaction Bundle's entries may leave it out. */
  readonly sourceId?: string;
  readonly source: FhirPatient;
}

export interface FhirConsentRecord {
  readonly resourceType: 'Consent';
  readonly sourceId?: string;
  readonly patientReference: string;
  readonly dataSharing: boolean;
  readonly research: boolean;
  readonly status: FhirConsentStatus;
  /** ISO 8601 in UTC. */
  readonly dateTime?: string;
}
