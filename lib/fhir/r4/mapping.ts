/**
 * Pure functions from FHIR R4 resources (already through `validateR4Resource`) to the
 * pipeline's canonical shapes. What R4's schema leaves optional but the pipeline needs (a
 * Patient's MRN, a Consent's patient and status) comes back as a problem, with paths and
 * keywords only, like schema problems: nothing the sender wrote.
 */
import type { RecordValidation, SchemaProblem } from '../validation.ts';
import type {
  FhirCodeableConcept,
  FhirConsent,
  FhirConsentProvision,
  FhirConsentRecord,
  FhirHumanName,
  FhirPatient,
  FhirPatientRecord,
} from './model.ts';
import { sortedProblems } from './problems.ts';

export const IDENTIFIER_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v2-0203';
export const MRN_TYPE_CODE = 'MR';
export const SSN_SYSTEM = 'http://hl7.org/fhir/sid/us-ssn';
export const CONSENT_SCOPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/consentscope';
export const PRIVACY_SCOPE_CODE = 'patient-privacy';
export const PURPOSE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
export const RESEARCH_PURPOSE_CODE = 'HRESCH';

const FHIR_ID = '[A-Za-z0-9\\-.]{1,64}';
const PATIENT_REFERENCE = new RegExp(
  `^(?:urn:uuid:(${FHIR_ID})|(?:https?://\\S+/)?Patient/(${FHIR_ID})(?:/_history/${FHIR_ID})?)$`,
);

function required(element: string): SchemaProblem {
  return { path: '', keyword: 'required', message: `is required: ${element}` };
}

function rejected<T>(problems: readonly SchemaProblem[]): RecordValidation<T> {
  return { ok: false, problems: sortedProblems(problems) };
}

export function hasCoding(
  concept: FhirCodeableConcept | undefined,
  system: string,
  code: string,
): boolean {
  return (concept?.coding ?? []).some((coding) => coding.system === system && coding.code === code);
}

// 9999-12-31T23:59:59-14:00 is in year 10000 in UTC, whose ISO form (+010000-…) sorts before 2026.
const LATEST_INSTANT = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * ISO 8601 in UTC, which sorts as text; a date without a time stands for its first instant in
 * UTC. A problem for a leap second (R4 allows :60), which Date cannot hold, and past 9999 in UTC.
 */
export function utcInstant(
  value: string,
  path: string,
): { instant: string } | { problem: SchemaProblem } {
  const time = Date.parse(value);
  if (Number.isNaN(time)) {
    return {
      problem: { path, keyword: 'instant', message: 'must be a time without a leap second' },
    };
  }
  if (time > LATEST_INSTANT) {
    return {
      problem: { path, keyword: 'instant', message: 'must be no later than 9999-12-31 in UTC' },
    };
  }
  return { instant: new Date(time).toISOString() };
}

/** Given names then family, of the official name, else of the usual or unlabelled one. */
function displayName(names: readonly FhirHumanName[]): string | undefined {
  const name =
    names.find(({ use }) => use === 'official') ??
    names.find(({ use }) => use === undefined || use === 'usual');
  if (name === undefined) return undefined;
  const display = [...(name.given ?? []), ...(name.family === undefined ? [] : [name.family])]
    .join(' ')
    .trim();
  return display === '' ? name.text : display;
}

export function patientFromFhir(resource: FhirPatient): RecordValidation<FhirPatientRecord> {
  const identifiers = resource.identifier ?? [];
  const mrn = identifiers.find(
    ({ type, value }) =>
      value !== undefined && hasCoding(type, IDENTIFIER_TYPE_SYSTEM, MRN_TYPE_CODE),
  )?.value;
  if (mrn === undefined) {
    return rejected([{ path: '/identifier', keyword: 'mrn', message: 'has no MR identifier' }]);
  }
  const ssn = identifiers.find(
    ({ system, value }) => system === SSN_SYSTEM && value !== undefined,
  )?.value;
  const names = resource.name ?? [];
  const name = displayName(names);
  return {
    ok: true,
    value: {
      resourceType: 'Patient',
      mrn,
      ...(ssn === undefined ? {} : { ssn }),
      ...(name === undefined ? {} : { name }),
      names,
      ...(resource.birthDate === undefined ? {} : { birthDate: resource.birthDate }),
      ...(resource.gender === undefined ? {} : { gender: resource.gender }),
      ...(resource.address === undefined ? {} : { address: resource.address }),
      ...(resource.telecom === undefined ? {} : { telecom: resource.telecom }),
      ...(resource.id === undefined ? {} : { sourceId: resource.id }),
      source: resource,
    },
  };
}

function permitsResearch(provision: FhirConsentProvision): boolean {
  return (
    provision.type === 'permit' &&
    (provision.purpose ?? []).some(
      ({ system, code }) => system === PURPOSE_SYSTEM && code === RESEARCH_PURPOSE_CODE,
    )
  );
}

/**
 * Only patient-privacy Consents map: one about treatment or research alone must not
 * overwrite the data-sharing choice. An active one grants data sharing when its base
 * provision permits, and research when a provision directly under the base permits for
 * purpose HRESCH (an exception, so it holds even under a base deny). Any other status
 * grants neither.
 */
export function consentFromFhir(resource: FhirConsent): RecordValidation<FhirConsentRecord> {
  const problems: SchemaProblem[] = [];
  if (!hasCoding(resource.scope, CONSENT_SCOPE_SYSTEM, PRIVACY_SCOPE_CODE)) {
    problems.push({ path: '/scope', keyword: 'scope', message: `must be ${PRIVACY_SCOPE_CODE}` });
  }
  if (resource.status === undefined) problems.push(required('status'));
  const patientReference = resource.patient?.reference;
  if (resource.patient === undefined) {
    problems.push(required('patient'));
  } else if (patientReference === undefined) {
    problems.push({ path: '/patient', keyword: 'reference', message: 'has no reference' });
  }
  const recorded =
    resource.dateTime === undefined ? undefined : utcInstant(resource.dateTime, '/dateTime');
  if (recorded !== undefined && 'problem' in recorded) problems.push(recorded.problem);
  const dateTime = recorded !== undefined && 'instant' in recorded ? recorded.instant : undefined;
  if (problems.length > 0 || resource.status === undefined || patientReference === undefined) {
    return rejected(problems);
  }
  const active = resource.status === 'active';
  const provision = resource.provision;
  return {
    ok: true,
    value: {
      resourceType: 'Consent',
      ...(resource.id === undefined ? {} : { sourceId: resource.id }),
      patientReference,
      dataSharing: active && provision?.type === 'permit',
      research: active && (provision?.provision ?? []).some(permitsResearch),
      status: resource.status,
      ...(dateTime === undefined ? {} : { dateTime }),
    },
  };
}

/**
 * One key for the ways a Bundle or a feed names a Patient: `Patient/<id>`, an absolute
 * `http(s)://…/Patient/<id>`, either with `/_history/<version>`, and `urn:uuid:<id>`, all
 * become `Patient/<id>`. Undefined for references to other types, contained resources
 * (`#id`) and conditional references (`Patient?identifier=…`).
 */
export function referenceKey(reference: string): string | undefined {
  const match = PATIENT_REFERENCE.exec(reference);
  const id = match?.[1] ?? match?.[2];
  return id === undefined ? undefined : `Patient/${id}`;
}

/**
 * The keys a Patient in a Bundle is found by: its resource id and its entry's `fullUrl`
 * (a transaction's entries often carry only a `urn:uuid` fullUrl and no id).
 */
export function patientReferenceKeys(resource: FhirPatient, fullUrl?: string): string[] {
  const keys = new Set<string>();
  for (const reference of [
    resource.id === undefined ? undefined : `Patient/${resource.id}`,
    fullUrl,
  ]) {
    const key = reference === undefined ? undefined : referenceKey(reference);
    if (key !== undefined) keys.add(key);
  }
  return [...keys];
}
