/**
 * Validate for FHIR input (Bundles and NDJSON): each resource against the R4 schema of its type,
 * then read as the pipeline needs it: a Patient mapped to its record, a Consent to its decision,
 * and every other type through its descriptor (the patients it names, what it is searched by).
 * References are resolved later, in ConsentCheck.
 */
import { createHash } from 'node:crypto';
import { normalizeMrn } from '../crypto/blindIndex.ts';
import type { Rejection } from '../db/repositories/rejections.ts';
import { descriptorOf, searchValuesOf } from '../fhir/r4/descriptors.ts';
import { consentFromFhir, patientFromFhir, patientReferenceKeys } from '../fhir/r4/mapping.ts';
import type { FhirConsent, FhirPatient, FhirPatientRecord } from '../fhir/r4/model.ts';
import { patientsNamedIn } from '../fhir/r4/references.ts';
import { validateR4Resource } from '../fhir/r4/validation.ts';
import type { ConsentEntry, ExtractedPayload, ExtractedRecord, ResourceEntry } from './payloads.ts';
import { duplicateRejection, schemaRejection } from './recordRejections.ts';

/**
 * R4 types the pipeline does not store, and why: each could carry a patient's data without naming
 * the patient, so it would pass no consent gate.
 */
export const REFUSED_RESOURCE_TYPES: ReadonlyMap<string, string> = new Map([
  ['Bundle', 'a Bundle inside a batch is not stored: send its entries'],
  ['Binary', 'a Binary names no patient, so no consent could gate it'],
  ['Parameters', 'Parameters are an operation’s input, not a resource to store'],
  ['OperationOutcome', 'an OperationOutcome is a response, not a resource to store'],
]);

export interface FhirPatientEntry {
  readonly index: number;
  readonly record: FhirPatientRecord;
  /** `Patient/<id>` keys other resources may name this patient by (its id, its fullUrl). */
  readonly referenceKeys: readonly string[];
}

export interface FhirRecords {
  readonly patients: FhirPatientEntry[];
  readonly resources: ResourceEntry[];
  readonly consents: ConsentEntry[];
  readonly rejections: Rejection[];
}

function refused({ index, resourceType }: ExtractedRecord): Rejection | undefined {
  const why = resourceType === null ? undefined : REFUSED_RESOURCE_TYPES.get(resourceType);
  return why === undefined
    ? undefined
    : {
        recordIndex: index,
        resourceType,
        reason: 'unsupported-type',
        details: { resourceType, why },
      };
}

/** Validates and maps every record; each one either becomes an entry or a rejection. */
export function validateFhirRecords(extracted: ExtractedPayload): FhirRecords {
  const out: FhirRecords = { patients: [], resources: [], consents: [], rejections: [] };
  const firstIndexByMrn = new Map<string, number>();
  const firstIndexByReference = new Map<string, number>();
  const firstIndexBySource = new Map<string, number>();

  for (const extractedRecord of extracted.records) {
    const { index, record, fullUrl, unreadable } = extractedRecord;
    if (unreadable !== undefined) {
      out.rejections.push(schemaRejection(extractedRecord, [unreadable]));
      continue;
    }
    const refusal = refused(extractedRecord);
    if (refusal !== undefined) {
      out.rejections.push(refusal);
      continue;
    }
    const valid = validateR4Resource(record);
    if (!valid.ok) {
      out.rejections.push(schemaRejection(extractedRecord, valid.problems));
      continue;
    }
    const resource = valid.value;
    const { resourceType } = resource;
    if (resourceType === 'Patient') {
      const patient = resource as unknown as FhirPatient;
      const mapped = patientFromFhir(patient);
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
      const referenceKeys = patientReferenceKeys(patient, fullUrl);
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
      continue;
    }
    if (resourceType === 'Consent') {
      const mapped = consentFromFhir(resource as unknown as FhirConsent);
      if (!mapped.ok) {
        out.rejections.push(schemaRejection(extractedRecord, mapped.problems));
        continue;
      }
      out.consents.push({ index, record: mapped.value });
      continue;
    }
    const descriptor = descriptorOf(resourceType);
    if (descriptor === undefined) {
      // The validator knows only R4 types, and every R4 type has a descriptor.
      out.rejections.push({
        recordIndex: index,
        resourceType: null,
        reason: 'unsupported-type',
        details: {},
      });
      continue;
    }
    const search = searchValuesOf(descriptor, resource);
    if (!search.ok) {
      out.rejections.push(schemaRejection(extractedRecord, search.problems));
      continue;
    }
    const namedPatients = patientsNamedIn(resource);
    if (namedPatients.containsPatient) {
      // Its patient's data would be stored inside another resource, past the patient's consent.
      out.rejections.push({
        recordIndex: index,
        resourceType,
        reason: 'unsupported-type',
        details: {
          resourceType,
          why: 'a contained Patient is not stored: send the Patient on its own',
        },
      });
      continue;
    }
    // A resource without an id is named by its fullUrl, with its type: one fullUrl, one resource.
    const sourceKey =
      resource.id !== undefined
        ? `${resourceType}/${resource.id}`
        : fullUrl === undefined
          ? undefined
          : `${resourceType}|${fullUrl}`;
    // Without an id or a fullUrl it is named by its content: the same content twice is one.
    const batchKey =
      sourceKey ??
      `content:${createHash('sha256').update(JSON.stringify(resource)).digest('base64')}`;
    const first = firstIndexBySource.get(batchKey);
    if (first !== undefined) {
      out.rejections.push(
        duplicateRejection(extractedRecord, first, sourceKey === undefined ? 'content' : 'id'),
      );
      continue;
    }
    firstIndexBySource.set(batchKey, index);
    out.resources.push({
      index,
      resourceType,
      resource,
      search: search.value,
      namedPatients,
      ...(sourceKey === undefined ? {} : { sourceKey }),
      ...(fullUrl === undefined ? {} : { fullUrl }),
    });
  }
  return out;
}
