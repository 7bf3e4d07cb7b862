/**
 * Validate for FHIR input (Bundles and NDJSON): each resource against the R4 schema, then
 * mapped to the pipeline's shapes. Types the pipeline does not load are skipped and counted
 * (`unsupported-type`), never a failed run. References are resolved later, in ConsentCheck.
 */
import { normalizeMrn } from '../crypto/blindIndex.ts';
import type { Rejection } from '../db/repositories/rejections.ts';
import {
  consentFromFhir,
  observationFromFhir,
  patientFromFhir,
  patientReferenceKeys,
} from '../fhir/r4/mapping.ts';
import type { FhirPatientRecord } from '../fhir/r4/model.ts';
import { createFhirValidator, type FhirValidator } from '../fhir/r4/validation.ts';
import type {
  ConsentEntry,
  ExtractedPayload,
  ExtractedRecord,
  ObservationEntry,
} from './payloads.ts';
import { duplicateRejection, schemaRejection } from './recordRejections.ts';

/** The resource types the pipeline loads; any other R4 type is skipped. */
export const LOADED_RESOURCE_TYPES: ReadonlySet<string> = new Set([
  'Patient',
  'Observation',
  'Consent',
]);

export interface FhirPatientEntry {
  readonly index: number;
  readonly record: FhirPatientRecord;
  /** `Patient/<id>` keys other resources may name this patient by (its id, its fullUrl). */
  readonly referenceKeys: readonly string[];
}

export interface FhirRecords {
  readonly patients: FhirPatientEntry[];
  readonly observations: ObservationEntry[];
  readonly consents: ConsentEntry[];
  readonly rejections: Rejection[];
}

// Compiled once per cold start, not per run.
let validator: FhirValidator | undefined;

/** The R4 type a record names (Extract read it) when it is one the pipeline does not load. */
function unsupportedType({ resourceType }: ExtractedRecord): string | undefined {
  return resourceType !== null && !LOADED_RESOURCE_TYPES.has(resourceType)
    ? resourceType
    : undefined;
}

/** Validates and maps every record; each one either becomes an entry or a rejection. */
export function validateFhirRecords(extracted: ExtractedPayload): FhirRecords {
  validator ??= createFhirValidator();
  const out: FhirRecords = { patients: [], observations: [], consents: [], rejections: [] };
  const firstIndexByMrn = new Map<string, number>();
  const firstIndexByReference = new Map<string, number>();
  const firstIndexByObservation = new Map<string, number>();

  for (const extractedRecord of extracted.records) {
    const { index, record, fullUrl, unreadable } = extractedRecord;
    if (unreadable !== undefined) {
      out.rejections.push(schemaRejection(extractedRecord, [unreadable]));
      continue;
    }
    const skipped = unsupportedType(extractedRecord);
    if (skipped !== undefined) {
      out.rejections.push({
        recordIndex: index,
        resourceType: skipped,
        reason: 'unsupported-type',
        details: { resourceType: skipped },
      });
      continue;
    }
    const valid = validator(record);
    if (!valid.ok) {
      out.rejections.push(schemaRejection(extractedRecord, valid.problems));
      continue;
    }
    const resource = valid.value;
    if (resource.resourceType === 'Patient') {
      const mapped = patientFromFhir(resource);
      if (!mapped.ok) {
        out.rejections.push(schemaRejection(extractedRecord, mapped.problems));
        continue;
      }
      const mrn = normalizeMrn(mapped.value.mrn);
      const sameMrn = firstIndexByMrn.get(mrn);
      if (sameMrn !== undefined) {
        out.rejections.push(duplicateRejection(extractedRecord, sameMrn, 'mrn'));
        continue;
      }
      const referenceKeys = patientReferenceKeys(resource, fullUrl);
      const sameReference = referenceKeys
        .map((key) => firstIndexByReference.get(key))
        .find((first) => first !== undefined);
      if (sameReference !== undefined) {
        out.rejections.push(duplicateRejection(extractedRecord, sameReference, 'id'));
        continue;
      }
      firstIndexByMrn.set(mrn, index);
      for (const key of referenceKeys) firstIndexByReference.set(key, index);
      out.patients.push({ index, record: mapped.value, referenceKeys });
    } else if (resource.resourceType === 'Observation') {
      const mapped = observationFromFhir(resource);
      if (!mapped.ok) {
        out.rejections.push(schemaRejection(extractedRecord, mapped.problems));
        continue;
      }
      const sourceKey = resource.id === undefined ? fullUrl : `Observation/${resource.id}`;
      const first = sourceKey === undefined ? undefined : firstIndexByObservation.get(sourceKey);
      if (first !== undefined) {
        out.rejections.push(duplicateRejection(extractedRecord, first, 'id'));
        continue;
      }
      if (sourceKey !== undefined) firstIndexByObservation.set(sourceKey, index);
      out.observations.push({
        index,
        record: mapped.value,
        ...(sourceKey === undefined ? {} : { sourceKey }),
      });
    } else if (resource.resourceType === 'Consent') {
      const mapped = consentFromFhir(resource);
      if (!mapped.ok) {
        out.rejections.push(schemaRejection(extractedRecord, mapped.problems));
        continue;
      }
      out.consents.push({ index, record: mapped.value });
    } else {
      // A Bundle: unsupportedType skipped it above; kept for the compiler's exhaustiveness.
      out.rejections.push({
        recordIndex: index,
        resourceType: resource.resourceType,
        reason: 'unsupported-type',
        details: { resourceType: resource.resourceType },
      });
    }
  }
  return out;
}
