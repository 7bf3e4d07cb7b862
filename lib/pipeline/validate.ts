import { normalizeMrn } from '../crypto/blindIndex.ts';
import type { Rejection } from '../db/repositories/rejections.ts';
import { createPatientRecordValidator, type PatientRecordValidator } from '../fhir/validation.ts';
import type { PipelineDependencies } from './dependencies.ts';
import { validateFhirRecords } from './fhirRecords.ts';
import type { ExtractedPayload, PatientEntry, PatientsPayload } from './payloads.ts';
import { duplicateRejection, schemaRejection } from './recordRejections.ts';
import { runStage } from './stageFrame.ts';
import type { StageResult } from './stages.ts';

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
        resources: fhir.resources,
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
