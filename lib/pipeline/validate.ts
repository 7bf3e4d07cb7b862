import { normalizeMrn } from '../crypto/blindIndex.ts';
import type { Rejection } from '../db/repositories/rejections.ts';
import type { PatientRecord } from '../fhir/model.ts';
import { createPatientRecordValidator, type PatientRecordValidator } from '../fhir/validation.ts';
import type { PipelineDependencies } from './dependencies.ts';
import type { ExtractedPayload } from './extract.ts';
import type { ConsentDecision, LinkedObservation, PendingDecision } from './fhirConsent.ts';
import { type ConsentEntry, type ObservationEntry, validateFhirRecords } from './fhirRecords.ts';
import { duplicateRejection, schemaRejection } from './recordRejections.ts';
import { runStage } from './stageFrame.ts';
import type { StageResult } from './stages.ts';

/** A record that passed validation, still known by its position in the batch. */
export interface PatientEntry {
  readonly index: number;
  /** A flat record, or the canonical form of a FHIR Patient (a FhirPatientRecord). */
  readonly record: PatientRecord;
  /** FHIR only: the `Patient/<id>` keys other resources may name this patient by. */
  readonly referenceKeys?: readonly string[];
}

export interface PatientsPayload {
  readonly records: readonly PatientEntry[];
  /**
   * After ConsentCheck: explicit refusals (data_sharing false), MRN and research flag only,
   * so that a patient already stored has its consent withdrawn. Never stored as a patient.
   */
  readonly refusals?: readonly ConsentRefusal[];
  /** FHIR only, after Validate: Observations whose patient is not resolved yet. */
  readonly observations?: readonly ObservationEntry[];
  /** FHIR only, after Validate: Consent resources, not yet matched to their patients. */
  readonly consents?: readonly ConsentEntry[];
  /** FHIR only, after ConsentCheck: Observations let through, each linked to its patient. */
  readonly linkedObservations?: readonly LinkedObservation[];
  /** FHIR only, after ConsentCheck: the consent each Consent resource records. */
  readonly consentDecisions?: readonly ConsentDecision[];
  /** FHIR only, after ConsentCheck: decisions about patients not stored yet. */
  readonly pendingConsents?: readonly PendingDecision[];
}

export interface ConsentRefusal {
  readonly index: number;
  readonly mrn: string;
  readonly research: boolean;
}

// Compiled once per cold start, not per run.
let validator: PatientRecordValidator | undefined;

export function validateRecords(extracted: ExtractedPayload): {
  valid: PatientEntry[];
  rejections: Rejection[];
} {
  validator ??= createPatientRecordValidator();
  const valid: PatientEntry[] = [];
  const rejections: Rejection[] = [];
  const firstIndexByMrn = new Map<string, number>();
  for (const extractedRecord of extracted.records) {
    const { index, record } = extractedRecord;
    const result = validator(record);
    if (!result.ok) {
      rejections.push(schemaRejection(extractedRecord, result.problems));
      continue;
    }
    const mrn = normalizeMrn(result.value.mrn);
    const firstIndex = firstIndexByMrn.get(mrn);
    if (firstIndex !== undefined) {
      rejections.push(duplicateRejection(extractedRecord, firstIndex, 'mrn'));
      continue;
    }
    firstIndexByMrn.set(mrn, index);
    valid.push({ index, record: result.value });
  }
  return { valid, rejections };
}

function countOf(rejections: readonly Rejection[], reason: Rejection['reason']): number {
  return rejections.filter((rejection) => rejection.reason === reason).length;
}

/**
 * Validate: JSON Schema per record (the flat schema, or FHIR R4's for Bundles and NDJSON);
 * invalid records, repeated MRNs and ids, and unsupported types become rejections.
 */
export function validate(deps: PipelineDependencies, runId: string): Promise<StageResult> {
  return runStage<ExtractedPayload>(deps, 'validate', runId, async (extracted, { run }) => {
    let output: PatientsPayload;
    let rejections: Rejection[];
    if (run.format === 'flat') {
      const flat = validateRecords(extracted);
      output = { records: flat.valid };
      rejections = flat.rejections;
    } else {
      const fhir = validateFhirRecords(extracted);
      output = {
        records: fhir.patients,
        observations: fhir.observations,
        consents: fhir.consents,
      };
      rejections = fhir.rejections;
    }
    const unsupported = countOf(rejections, 'unsupported-type');
    return {
      output,
      rejections,
      counts: {
        valid: extracted.records.length - rejections.length,
        invalid: countOf(rejections, 'schema'),
        duplicates: countOf(rejections, 'duplicate-in-batch'),
        ...(run.format === 'flat' ? {} : { unsupported }),
      },
    };
  });
}
