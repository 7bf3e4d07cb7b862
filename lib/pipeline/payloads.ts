/**
 * The claim check's payloads: which one each stage reads and writes, and the shape of each.
 * Everything that crosses a stage boundary is declared here, so stages depend on this file and
 * never on each other.
 */
import type { ConsentRevocation, ConsentRow } from '../db/repositories/consents.ts';
import type { FhirResourceRow, ResourceReferenceRow } from '../db/repositories/fhirResources.ts';
import type { PatientReferenceRow } from '../db/repositories/patientReferences.ts';
import type { PatientRow } from '../db/repositories/patients.ts';
import type { PendingConsentRow } from '../db/repositories/pendingConsents.ts';
import type { WithheldReferenceRow } from '../db/repositories/withheldPatients.ts';
import { StageInputError } from '../errors.ts';
import type { PatientRecord } from '../fhir/model.ts';
import type { SearchValues } from '../fhir/r4/descriptors.ts';
import type { FhirConsentRecord } from '../fhir/r4/model.ts';
import type { NamedPatients } from '../fhir/r4/references.ts';
import type { FhirJson } from '../fhir/r4/resources.ts';
import type { SchemaProblem } from '../fhir/validation.ts';
import type { StageName } from './stages.ts';

export const RECEIVED_PAYLOAD = 'received';

/** The claim-check payload each stage reads, and the one it writes for the next. */
export const STAGE_PAYLOADS: Readonly<Record<StageName, { reads: string; writes: string | null }>> =
  {
    extract: { reads: RECEIVED_PAYLOAD, writes: 'extracted' },
    validate: { reads: 'extracted', writes: 'validated' },
    consentCheck: { reads: 'validated', writes: 'consented' },
    transform: { reads: 'consented', writes: 'transformed' },
    load: { reads: 'transformed', writes: null },
  };

/** `received`: the batch exactly as the API received it (kept encrypted, so nothing is lost). */
export interface ReceivedPayload {
  readonly contentType: string;
  readonly body: string;
}

/** One input record, by its position in the batch; `record` is not yet validated. */
export interface ExtractedRecord {
  readonly index: number;
  readonly resourceType: string | null;
  readonly record: unknown;
  /** A Bundle entry's fullUrl: other entries may refer to the resource by it. */
  readonly fullUrl?: string;
  /** Why there is no record to validate (an NDJSON line that is not JSON, an entry without a resource). */
  readonly unreadable?: SchemaProblem;
}

/** `extracted`. */
export interface ExtractedPayload {
  readonly records: readonly ExtractedRecord[];
}

/** A record that passed validation, still known by its position in the batch. */
export interface PatientEntry {
  readonly index: number;
  /** A flat record, or the canonical form of a FHIR Patient (a FhirPatientRecord). */
  readonly record: PatientRecord;
  /** FHIR only: the `Patient/<id>` keys other resources may name this patient by. */
  readonly referenceKeys?: readonly string[];
}

/** A FHIR resource other than a Patient or a Consent: patient data, or shared by many patients. */
export interface ResourceEntry {
  readonly index: number;
  readonly resourceType: string;
  /** The resource as sent (and validated). */
  readonly resource: FhirJson;
  /** What makes it the same resource when sent again: `Type/<id>`, else its fullUrl. */
  readonly sourceKey?: string;
  /** Its Bundle entry's fullUrl: other resources may name it by that. */
  readonly fullUrl?: string;
  /** Read through its type's descriptor: the patients it names, and what it is searched by. */
  readonly search: SearchValues;
  /** Every patient it names anywhere (outside its compartment elements too): all must consent. */
  readonly namedPatients?: NamedPatients;
}

export interface ConsentEntry {
  readonly index: number;
  readonly record: FhirConsentRecord;
}

export interface ConsentRefusal {
  readonly index: number;
  readonly mrn: string;
  readonly research: boolean;
}

/** A patient in this batch (by the record's position) or one already stored (by id). */
export type PatientLink = { readonly recordIndex: number } | { readonly patientId: string };

/** A resource let through: patient data with its patient, or a shared resource (no patient). */
export interface LinkedResource extends ResourceEntry {
  readonly patient?: PatientLink;
  /** Every patient whose consent let it through (its own patient among them). */
  readonly consentOf?: readonly PatientLink[];
}

/** The consent a Consent resource records for its patient, once it is the newest one. */
export interface ConsentDecision {
  /** The Consent resource's position in the batch; -1 for one that waited in pending_consents. */
  readonly index: number;
  readonly patient: PatientLink;
  readonly dataSharing: boolean;
  readonly research: boolean;
  /** ISO 8601: the Consent's dateTime, never later than the run that received it. */
  readonly recordedAt: string;
  /** Whether the Consent had a dateTime; an undated one is recorded at the run's time. */
  readonly explicit: boolean;
  /** Who sent a decision that waited; the run's actor otherwise. */
  readonly recordedBy?: string;
}

/** A decision about a patient not stored yet, kept under the reference's blind index (base64). */
export interface PendingDecision {
  readonly refBidx: string;
  readonly dataSharing: boolean;
  readonly research: boolean;
  readonly recordedAt: string;
  readonly explicit: boolean;
}

/** A FHIR Patient the consent stage stopped: what later resources may name it by. */
export interface WithheldPatientEntry {
  readonly patientId: string;
  readonly referenceKeys: readonly string[];
  readonly consent: 'absent' | 'refused';
}

/** `validated` and `consented`: the batch's patients, and for FHIR what names them. */
export interface PatientsPayload {
  readonly records: readonly PatientEntry[];
  /**
   * After ConsentCheck: explicit refusals (data_sharing false), MRN and research flag only,
   * so that a patient already stored has its consent withdrawn. Never stored as a patient.
   */
  readonly refusals?: readonly ConsentRefusal[];
  /** FHIR only, after Validate: every other resource, its patient not resolved yet. */
  readonly resources?: readonly ResourceEntry[];
  /** FHIR only, after Validate: Consent resources, not yet matched to their patients. */
  readonly consents?: readonly ConsentEntry[];
  /** FHIR only, after ConsentCheck: resources let through, patient data linked to its patient. */
  readonly linkedResources?: readonly LinkedResource[];
  /** FHIR only, after ConsentCheck: the consent each Consent resource records. */
  readonly consentDecisions?: readonly ConsentDecision[];
  /** FHIR only, after ConsentCheck: decisions about patients not stored yet. */
  readonly pendingConsents?: readonly PendingDecision[];
  /** FHIR only, after ConsentCheck: the Patients it stopped. */
  readonly withheldPatients?: readonly WithheldPatientEntry[];
}

/** `transformed`: the rows Load writes, as Transform built them (sealed in the binary encoding). */
export interface TransformedPayload {
  readonly patients: readonly PatientRow[];
  readonly consents: readonly ConsentRow[];
  /** Refusals by MRN blind index, for patients who may already be stored. */
  readonly revocations?: readonly ConsentRevocation[];
  /** FHIR only: the `Patient/<id>` references each loaded patient is known by. */
  readonly references?: readonly PatientReferenceRow[];
  /** FHIR only: every other resource. */
  readonly resources?: readonly FhirResourceRow[];
  /** FHIR only: the fullUrls and identifiers those resources are known by. */
  readonly resourceReferences?: readonly ResourceReferenceRow[];
  /** FHIR only: Consent decisions waiting for their patient, as ConsentCheck passed them on. */
  readonly pendingConsents?: readonly PendingConsentRow[];
  /** FHIR only: the references of the Patients ConsentCheck stopped. */
  readonly withheldReferences?: readonly WithheldReferenceRow[];
  /** Where each row came from, so Load can reject what a refusal made since ConsentCheck stops. */
  readonly origins?: RowOrigins;
}

/** The batch positions behind the rows of a `transformed` payload, by row id. */
export interface RowOrigins {
  readonly patients: ReadonlyMap<string, number>;
  /** Copies of one resource are one row: every position it was sent at. */
  readonly resources: ReadonlyMap<string, readonly number[]>;
  /** The patients whose consent let each resource row through. */
  readonly resourceConsents: ReadonlyMap<string, readonly string[]>;
}

/**
 * Refuses a payload an earlier version sealed with fields this one no longer reads (its
 * Observations, before every type took one path): read as it is, they would be dropped without
 * a word. The run fails with a reason; submitting the batch again loads all of it.
 */
export function refuseEarlierPayload(payload: object, fields: readonly string[]): void {
  const found = fields.filter((field) => Object.hasOwn(payload, field));
  if (found.length > 0) {
    throw new StageInputError(
      'The stage payload was written by an earlier version of the pipeline; submit the batch again',
    );
  }
}
