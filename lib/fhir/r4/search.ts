/**
 * The FHIR search `GET /fhir/r4/Observation?patient=…`: its parameters, its opaque keyset
 * cursor and the URLs of its pages. Pure: no database, no request object.
 */
import type { ObservationPosition } from '../../db/repositories/observations.ts';
import { InputValidationError, type ValidationProblem } from '../../errors.ts';
import { isUuid } from '../../ids.ts';

export const OBSERVATION_PAGE_DEFAULT = 100;
export const OBSERVATION_PAGE_MAX = 1000;

/** The parameters that name the patient: `patient`, or `subject` (typed or not). */
const PATIENT_PARAMETERS = ['patient', 'subject', 'subject:Patient'] as const;
const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json']);
const KNOWN = new Set<string>([...PATIENT_PARAMETERS, '_count', '_cursor', '_format']);
const PARAMETER_NAME = /^[A-Za-z_][A-Za-z0-9_:.-]{0,63}$/;
const CURSOR = /^[A-Za-z0-9_-]{1,256}$/;
const MICROS = /^-?\d{1,18}$/;
const COUNT = /^\d{1,4}$/;

export type SearchQuery = Readonly<Record<string, string | undefined>>;

export interface ObservationSearch {
  /** As the client named it: checked against our ids by the consent gate (404 when not ours). */
  readonly patientId: string;
  readonly count: number;
  /** Where the previous page ended; absent on the first page. */
  readonly after?: ObservationPosition;
}

/** The keyset position as an opaque, URL-safe token. */
export function encodeCursor(position: ObservationPosition): string {
  return Buffer.from(JSON.stringify([position.effectiveMicros, position.id])).toString('base64url');
}

/** The position a cursor stands for, or undefined for anything this server did not write. */
export function decodeCursor(cursor: string): ObservationPosition | undefined {
  if (!CURSOR.test(cursor)) return undefined;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(decoded) || decoded.length !== 2) return undefined;
  const [effectiveMicros, id]: unknown[] = decoded;
  const validTime =
    effectiveMicros === null ||
    (typeof effectiveMicros === 'string' && MICROS.test(effectiveMicros));
  if (!validTime || !isUuid(id)) return undefined;
  return { effectiveMicros, id: id.toLowerCase() };
}

/** `Patient/<id>` or `<id>`: the id. Anything naming another resource type is a client error. */
function patientIdOf(value: string): string | undefined {
  if (!value.includes('/')) return value;
  const match = /^Patient\/([^/]+)$/.exec(value);
  return match?.[1];
}

function patientParameter(query: SearchQuery, problems: ValidationProblem[]): string | undefined {
  const given = PATIENT_PARAMETERS.filter((name) => (query[name] ?? '') !== '');
  if (given.length === 0) {
    problems.push({
      path: '/patient',
      keyword: 'required',
      message: 'is required: searching the observations of every patient is not allowed',
    });
    return undefined;
  }
  if (given.length > 1) {
    problems.push({
      path: `/${given[1]}`,
      keyword: 'maxProperties',
      message: 'name the patient once: patient, subject or subject:Patient',
    });
    return undefined;
  }
  const name = given[0] as string;
  const value = query[name] as string;
  const id = patientIdOf(value);
  // A comma is FHIR's OR: one patient per search, so the gate and the audit see one patient.
  if (id === undefined || id === '' || value.includes(',')) {
    problems.push({
      path: `/${name}`,
      keyword: 'format',
      message: 'must be one patient: <id> or Patient/<id>',
    });
    return undefined;
  }
  return id;
}

function countParameter(value: string | undefined, problems: ValidationProblem[]): number {
  if (value === undefined) return OBSERVATION_PAGE_DEFAULT;
  const count = COUNT.test(value) ? Number(value) : Number.NaN;
  if (!(count >= 1 && count <= OBSERVATION_PAGE_MAX)) {
    problems.push({
      path: '/_count',
      keyword: 'maximum',
      message: `must be a whole number from 1 to ${OBSERVATION_PAGE_MAX}`,
    });
  }
  return count;
}

/**
 * Parses the query string of the Observation search; a bad parameter is named, its value
 * never echoed. Unknown parameters are refused rather than ignored, so no client takes an
 * unfiltered answer for a filtered one.
 */
export function parseObservationSearch(query: SearchQuery): ObservationSearch {
  const problems: ValidationProblem[] = [];
  for (const name of Object.keys(query)) {
    if (KNOWN.has(name)) continue;
    problems.push({
      path: PARAMETER_NAME.test(name) ? `/${name}` : '',
      keyword: 'additionalProperties',
      message: 'is not a supported search parameter',
    });
  }
  const format = query['_format'];
  if (format !== undefined && !JSON_FORMATS.has(format)) {
    problems.push({ path: '/_format', keyword: 'enum', message: 'only JSON is served' });
  }
  const patientId = patientParameter(query, problems);
  const count = countParameter(query['_count'], problems);
  const cursor = query['_cursor'];
  const after = cursor === undefined ? undefined : decodeCursor(cursor);
  if (cursor !== undefined && after === undefined) {
    problems.push({
      path: '/_cursor',
      keyword: 'format',
      message: 'must be the cursor of a next link',
    });
  }
  if (problems.length > 0 || patientId === undefined) {
    throw new InputValidationError('the Observation search is invalid', problems);
  }
  return { patientId, count, ...(after === undefined ? {} : { after }) };
}

/** The URL of a page of the search, with the parameters as the server understood them. */
export function observationSearchUrl(
  base: string,
  search: ObservationSearch,
  after: ObservationPosition | undefined = search.after,
): string {
  const parameters = new URLSearchParams({
    patient: search.patientId.toLowerCase(),
    _count: String(search.count),
  });
  if (after !== undefined) parameters.set('_cursor', encodeCursor(after));
  return `${base}/Observation?${parameters}`;
}
