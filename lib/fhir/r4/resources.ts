/**
 * Pure builders of the FHIR R4 resources the API returns: Patient and any other type from what
 * the pipeline stored, the searchset Bundle of a search, and OperationOutcome for errors.
 * Nothing here reads a database or a key; callers pass decrypted values in.
 */
import { isJsonObject } from '../../json.ts';
import { IDENTIFIER_TYPE_SYSTEM, MRN_TYPE_CODE, SSN_SYSTEM } from './mapping.ts';

/** The extension on an OperationOutcome that carries the request's correlation id. */
export const CORRELATION_ID_EXTENSION_URL = 'urn:healthcare-etl:fhir:correlation-id';

export type FhirJson = Readonly<Record<string, unknown>>;

/** What the API adds to a stored resource: our id for it and when our row last changed. */
export interface StoredResourceMeta {
  readonly id: string;
  readonly lastUpdated: Date;
}

/** A patient as the flat format (or the decrypted columns of an old row) holds it. */
export interface FlatPatient {
  readonly mrn: string;
  readonly name?: string | null;
  readonly birthDate?: string | null;
  readonly gender?: string | null;
  readonly ssn?: string | null;
}

/**
 * The sender's meta with our lastUpdated. Its versionId numbers the sender's versions, not
 * ours, so it goes, as the sender's id does; profiles, tags and security labels stay.
 */
function ourMeta(sent: unknown, lastUpdated: Date): FhirJson {
  const { versionId: _theirs, lastUpdated: _theirTime, ...kept } = isJsonObject(sent) ? sent : {};
  return { ...kept, lastUpdated: lastUpdated.toISOString() };
}

/** A stored flat record says so by its `mrn`: a FHIR Patient never has one. */
export function isFlatPatient(source: FhirJson): source is FhirJson & FlatPatient {
  return typeof source['mrn'] === 'string';
}

function flatPatientResource(patient: FlatPatient, meta: StoredResourceMeta): FhirJson {
  const identifier: FhirJson[] = [
    {
      type: {
        coding: [
          { system: IDENTIFIER_TYPE_SYSTEM, code: MRN_TYPE_CODE, display: 'Medical record number' },
        ],
      },
      value: patient.mrn,
    },
  ];
  if (typeof patient.ssn === 'string') identifier.push({ system: SSN_SYSTEM, value: patient.ssn });
  return {
    resourceType: 'Patient',
    id: meta.id,
    meta: ourMeta(undefined, meta.lastUpdated),
    identifier,
    ...(typeof patient.name === 'string' ? { name: [{ text: patient.name }] } : {}),
    ...(typeof patient.gender === 'string' ? { gender: patient.gender } : {}),
    ...(typeof patient.birthDate === 'string' ? { birthDate: patient.birthDate } : {}),
  };
}

/**
 * The FHIR Patient of a stored patient: the resource as the sender wrote it under our id, or,
 * for a flat record, an R4 Patient built from its fields. Our consent flags are never part of
 * it (R4 has no such element; consent is a resource of its own).
 */
export function patientResource(source: FhirJson, meta: StoredResourceMeta): FhirJson {
  if (isFlatPatient(source)) return flatPatientResource(source, meta);
  const {
    resourceType: _type,
    id: _senderId,
    meta: sentMeta,
    consent: _ours,
    ...elements
  } = source;
  return {
    resourceType: 'Patient',
    id: meta.id,
    meta: ourMeta(sentMeta, meta.lastUpdated),
    ...elements,
  };
}

/**
 * A stored resource as the API returns it: as the sender wrote it (the caller has rewritten its
 * references to our ids), under our id and with our lastUpdated in the sender's meta.
 */
export function resourceView(source: FhirJson, meta: StoredResourceMeta): FhirJson {
  const { resourceType, id: _senderId, meta: sentMeta, ...elements } = source;
  return {
    resourceType,
    id: meta.id,
    meta: ourMeta(sentMeta, meta.lastUpdated),
    ...elements,
  };
}

/** The absolute URL of a resource on this server; `base` is the FHIR base, e.g. `https://host/fhir/r4`. */
export function resourceUrl(base: string, resourceType: string, id: string): string {
  return `${base}/${resourceType}/${encodeURIComponent(id)}`;
}

export interface SearchsetPage {
  /** The FHIR base URL every entry's fullUrl starts with. */
  readonly base: string;
  readonly total: number;
  readonly selfUrl: string;
  readonly nextUrl: string | null;
  readonly resources: readonly FhirJson[];
  /** Resources the matches name, returned beside them (`search.mode` include). */
  readonly included?: readonly FhirJson[];
}

function entryOf(base: string, resource: FhirJson, mode: 'match' | 'include'): FhirJson {
  return {
    fullUrl: resourceUrl(base, String(resource['resourceType']), String(resource['id'])),
    resource,
    search: { mode },
  };
}

/** A searchset Bundle: the matches, then what they include; `next` only while more pages follow. */
export function searchsetBundle(page: SearchsetPage): FhirJson {
  const link = [{ relation: 'self', url: page.selfUrl }];
  if (page.nextUrl !== null) link.push({ relation: 'next', url: page.nextUrl });
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: page.total,
    link,
    entry: [
      ...page.resources.map((resource) => entryOf(page.base, resource, 'match')),
      ...(page.included ?? []).map((resource) => entryOf(page.base, resource, 'include')),
    ],
  };
}

/** IssueType codes (http://hl7.org/fhir/issue-type) for the statuses the API answers with. */
const ISSUE_TYPES: ReadonlyMap<number, string> = new Map([
  [400, 'invalid'],
  [401, 'login'],
  [403, 'forbidden'],
  [404, 'not-found'],
  [405, 'not-supported'],
  [406, 'not-supported'],
  [409, 'conflict'],
  [410, 'deleted'],
  [412, 'conflict'],
  [413, 'too-costly'],
  [415, 'not-supported'],
  [422, 'processing'],
  [429, 'throttled'],
]);

export function issueTypeForStatus(status: number): string {
  if (status >= 500) return 'exception';
  return ISSUE_TYPES.get(status) ?? 'processing';
}

export interface OutcomeIssue {
  /** What went wrong, without PHI: an exposed 4xx message or a generic 5xx text. */
  readonly diagnostics: string;
  /** The failing locations of a validation error, each its own issue. */
  readonly problems?: readonly { readonly path: string; readonly message: string }[];
}

/** An OperationOutcome for an HTTP error status, with the correlation id as an extension. */
export function operationOutcome(
  status: number,
  issue: OutcomeIssue,
  correlationId: string,
): FhirJson {
  const code = issueTypeForStatus(status);
  const details = (issue.problems ?? []).map(({ path, message }) => ({
    severity: 'error',
    code,
    diagnostics: path === '' ? message : `${path}: ${message}`,
  }));
  return {
    resourceType: 'OperationOutcome',
    extension: [{ url: CORRELATION_ID_EXTENSION_URL, valueString: correlationId }],
    issue: [{ severity: 'error', code, diagnostics: issue.diagnostics }, ...details],
  };
}

/** The decrypted JSON of a stored resource, as an object; anything else is a storage fault. */
export function storedJson(text: string): FhirJson | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  return isJsonObject(parsed) ? parsed : undefined;
}
