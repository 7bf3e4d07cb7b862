import { normalizeMrn } from '../crypto/blindIndex.ts';
import type { Rejection } from '../db/repositories/rejections.ts';
import type { PatientRecord } from '../fhir/model.ts';
import { createPatientRecordValidator, type PatientRecordValidator } from '../fhir/validation.ts';
import type { PipelineDependencies } from './dependencies.ts';
import type { ExtractedPayload } from './extract.ts';
import { runStage } from './stageFrame.ts';
import type { StageResult } from './stages.ts';

/** A record that passed validation, still known by its position in the batch. */
export interface PatientEntry {
  readonly index: number;
  readonly record: PatientRecord;
}

export interface PatientsPayload {
  readonly records: readonly PatientEntry[];
  /**
   * After ConsentCheck: explicit refusals (data_sharing false), MRN and research flag only,
   * so that a patient already stored has its consent withdrawn. Never stored as a patient.
   */
  readonly refusals?: readonly ConsentRefusal[];
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
  for (const { index, resourceType, record } of extracted.records) {
    const result = validator(record);
    if (!result.ok) {
      rejections.push({
        recordIndex: index,
        resourceType,
        reason: 'schema',
        details: { problems: result.problems },
      });
      continue;
    }
    const mrn = normalizeMrn(result.value.mrn);
    const firstIndex = firstIndexByMrn.get(mrn);
    if (firstIndex !== undefined) {
      rejections.push({
        recordIndex: index,
        resourceType,
        reason: 'duplicate-in-batch',
        details: { firstRecordIndex: firstIndex, field: 'mrn' },
      });
      continue;
    }
    firstIndexByMrn.set(mrn, index);
    valid.push({ index, record: result.value });
  }
  return { valid, rejections };
}

/** Validate: JSON Schema per record; invalid records and repeated MRNs become rejections. */
export function validate(deps: PipelineDependencies, runId: string): Promise<StageResult> {
  return runStage<ExtractedPayload>(deps, 'validate', runId, async (extracted) => {
    const { valid, rejections } = validateRecords(extracted);
    const output: PatientsPayload = { records: valid };
    return {
      output,
      rejections,
      counts: {
        valid: valid.length,
        invalid: rejections.filter((rejection) => rejection.reason === 'schema').length,
        duplicates: rejections.filter((rejection) => rejection.reason === 'duplicate-in-batch')
          .length,
      },
    };
  });
}
