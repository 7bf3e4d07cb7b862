/**
 * The FHIR searches `GET /fhir/r4/{type}?patient=…` and `GET /fhir/r4/Patient/{id}/$everything`:
 * their parameters, their opaque keyset cursors and the URLs of their pages. Pure: no
 * database, no request object.
 */
import { InputValidationError, type ValidationProblem } from '../../errors.ts';
import { isUuid } from '../../ids.ts';
import { descriptorOf, type ResourceDescriptor } from './descriptors.ts';
import resourceTypes from './resourceTypes.json' with { type: 'json' };

export const SEARCH_PAGE_DEFAULT = 100;
export const SEARCH_PAGE_MAX = 1000;

/** Types the store never holds, whatever R4 says of them: read results, envelopes, consent. */
const NOT_STORED: ReadonlySet<string> = new Set([
  'Bundle',
  'Binary',
  'Parameters',
  'OperationOutcome',
  'Consent',
]);

/** The patient-data type of that name, or undefined for a shared, unstored or unknown one. */
export function patientDataDescriptor(resourceType: string): ResourceDescriptor | undefined {
  const descriptor = descriptorOf(resourceType);
  return descriptor?.kind === 'patient-data' && !NOT_STORED.has(resourceType)
    ? descriptor
    : undefined;
}

/** Whether resources of that type are stored and read: Patient, patient data and shared types. */
export function isStoredType(resourceType: string): boolean {
  return descriptorOf(resourceType) !== undefined && !NOT_STORED.has(resourceType);
}

/** Every R4 type the store holds, in name order: Patient, patient-data and shared types. */
export const STORED_TYPES: readonly string[] = (resourceTypes as readonly string[])
  .filter(isStoredType)
  .sort();

/** Every patient-data type, in name order: what a search and `$everything` read. */
export const PATIENT_DATA_TYPES: readonly string[] = STORED_TYPES.filter(
  (type) => patientDataDescriptor(type) !== undefined,
);

const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json']);
const PARAMETER_NAME = /^[A-Za-z_][A-Za-z0-9_:.-]{0,63}$/;
const CURSOR = /^[A-Za-z0-9_-]{1,256}$/;
const MICROS = /^-?\d{1,18}$/;
const COUNT = /^\d{1,4}$/;
const TYPE_NAME = /^[A-Z][A-Za-z]{1,63}$/;
// A token's code or system: printable (no NUL or other control character, which PostgreSQL
// refuses in text), no spaces at its ends, no FHIR OR or escapes.
const TOKEN_PART = /^[^\s,|\\$\p{Cc}](?:[^,|\\$\p{Cc}]{0,254}[^\s,|\\$\p{Cc}])?$/u;
// Any control character: never in a parameter that reaches a query as text.
const CONTROL = /\p{Cc}/u;
// What PostgreSQL's timestamptz holds that a cursor may name: 0001-01-01 to 9999-12-31 UTC.
const MIN_CURSOR_MICROS = -62135596800000000n;
const MAX_CURSOR_MICROS = 253402300799999999n;
// YYYY, YYYY-MM, YYYY-MM-DD, or a dateTime to the minute, second or fraction, with its zone.
const DATE_VALUE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2}))?)?)?$/;
const INSTANT_VALUE =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;
const DATE_PREFIXES = ['eq', 'ge', 'gt', 'le', 'lt'] as const;

export type SearchQuery = Readonly<Record<string, string | undefined>>;

/**
 * Where a resource stands in a patient's list of one type (principal date, then id; no date
 * last). The time is in microseconds since the epoch, as PostgreSQL keeps it, so a position
 * taken from one page matches the row exactly on the next.
 */
export interface SearchPosition {
  /** Microseconds since 1970-01-01 UTC as a decimal string, or null for no date. */
  readonly effectiveMicros: string | null;
  readonly id: string;
}

/** A position in a patient's compartment: by type, then as in a search of that type. */
export interface EverythingPosition extends SearchPosition {
  readonly resourceType: string;
}

/** Half-open `[from, to)` in microseconds since the epoch; an absent end is unbounded. */
export interface InstantRange {
  readonly fromMicros?: string;
  readonly toMicros?: string;
}

/** `system|code`, `|code` (system absent: `system` null) or `code` (any system: no `system`). */
export interface TokenFilter {
  readonly system?: string | null;
  readonly code: string;
}

export interface ResourceSearch {
  readonly resourceType: string;
  /** As the client named it: checked against our ids by the consent gate (404 when not ours). */
  readonly patientId: string;
  readonly count: number;
  /** Where the previous page ended; absent on the first page. */
  readonly after?: SearchPosition;
  /** The principal date within the range. */
  readonly date?: InstantRange;
  /** As the client wrote it, for the page links. */
  readonly dateText?: string;
  readonly code?: TokenFilter;
  /** Matched on the category code, whatever system was named. */
  readonly category?: string;
  readonly status?: string;
}

export interface EverythingSearch {
  readonly count: number;
  /** Resources changed at or after this instant (microseconds since the epoch) only. */
  readonly sinceMicros?: string;
  /** As the client wrote it, for the page links. */
  readonly sinceText?: string;
  /** The types asked for; absent: every type. */
  readonly types?: readonly string[];
  readonly after?: EverythingPosition;
}

function cursorOf(parts: readonly unknown[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

function cursorParts(cursor: string): unknown[] | undefined {
  if (!CURSOR.test(cursor)) return undefined;
  try {
    const decoded: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    return Array.isArray(decoded) ? decoded : undefined;
  } catch {
    return undefined;
  }
}

function positionOf(effectiveMicros: unknown, id: unknown): SearchPosition | undefined {
  const validTime =
    effectiveMicros === null ||
    (typeof effectiveMicros === 'string' &&
      MICROS.test(effectiveMicros) &&
      BigInt(effectiveMicros) >= MIN_CURSOR_MICROS &&
      BigInt(effectiveMicros) <= MAX_CURSOR_MICROS);
  if (!validTime || !isUuid(id)) return undefined;
  return { effectiveMicros, id: id.toLowerCase() };
}

/** The keyset position as an opaque, URL-safe token. */
export function encodeCursor(position: SearchPosition): string {
  return cursorOf([position.effectiveMicros, position.id]);
}

/** The position a cursor stands for, or undefined for anything this server did not write. */
export function decodeCursor(cursor: string): SearchPosition | undefined {
  const parts = cursorParts(cursor);
  if (parts?.length !== 2) return undefined;
  return positionOf(parts[0], parts[1]);
}

export function encodeEverythingCursor(position: EverythingPosition): string {
  return cursorOf([position.resourceType, position.effectiveMicros, position.id]);
}

export function decodeEverythingCursor(cursor: string): EverythingPosition | undefined {
  const parts = cursorParts(cursor);
  if (parts?.length !== 3) return undefined;
  const [resourceType, effectiveMicros, id] = parts;
  if (typeof resourceType !== 'string' || !TYPE_NAME.test(resourceType)) return undefined;
  const position = positionOf(effectiveMicros, id);
  return position === undefined ? undefined : { resourceType, ...position };
}

function refuseUnknown(
  query: SearchQuery,
  known: ReadonlySet<string>,
  problems: ValidationProblem[],
): void {
  for (const name of Object.keys(query)) {
    if (known.has(name)) continue;
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
}

/** `Patient/<id>` or `<id>`: the id. Anything naming another resource type is a client error. */
function patientIdOf(value: string): string | undefined {
  if (!value.includes('/')) return value;
  const match = /^Patient\/([^/]+)$/.exec(value);
  return match?.[1];
}

function patientParameter(
  resourceType: string,
  names: readonly string[],
  query: SearchQuery,
  problems: ValidationProblem[],
): string | undefined {
  const given = names.filter((name) => (query[name] ?? '') !== '');
  if (given.length === 0) {
    problems.push({
      path: '/patient',
      keyword: 'required',
      message: `is required: searching the ${resourceType} resources of every patient is not allowed`,
    });
    return undefined;
  }
  if (given.length > 1) {
    problems.push({
      path: `/${given[1]}`,
      keyword: 'maxProperties',
      message: `name the patient once: ${names.join(', ')}`,
    });
    return undefined;
  }
  const name = given[0] as string;
  const value = query[name] as string;
  const id = patientIdOf(value);
  // A comma is FHIR's OR: one patient per search, so the gate and the audit see one patient.
  if (id === undefined || id === '' || value.includes(',') || CONTROL.test(value)) {
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
  if (value === undefined) return SEARCH_PAGE_DEFAULT;
  const count = COUNT.test(value) ? Number(value) : Number.NaN;
  if (!(count >= 1 && count <= SEARCH_PAGE_MAX)) {
    problems.push({
      path: '/_count',
      keyword: 'maximum',
      message: `must be a whole number from 1 to ${SEARCH_PAGE_MAX}`,
    });
  }
  return count;
}

function cursorParameter<T>(
  value: string | undefined,
  decode: (cursor: string) => T | undefined,
  problems: ValidationProblem[],
): T | undefined {
  if (value === undefined) return undefined;
  const position = decode(value);
  if (position === undefined) {
    problems.push({
      path: '/_cursor',
      keyword: 'format',
      message: 'must be the cursor of a next link',
    });
  }
  return position;
}

const MICROS_PER_MS = 1000n;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * The instants a date or dateTime covers, to its precision, as `[from, to)` in microseconds:
 * `2024` is the year, `2024-02-29` the day (UTC), `…T10:00Z` the minute. Undefined for a value
 * that is not one, or names no possible time (a 30 February, hour 24, second 60).
 */
export function dateRange(value: string): { from: bigint; to: bigint } | undefined {
  const match = DATE_VALUE.exec(value);
  if (match === null) return undefined;
  const [, yearText, monthText, dayText, hourText, minuteText, secondText, fraction, zone] = match;
  const year = Number(yearText);
  const month = monthText === undefined ? 1 : Number(monthText);
  const day = dayText === undefined ? 1 : Number(dayText);
  const hour = Number(hourText ?? 0);
  const minute = Number(minuteText ?? 0);
  const second = Number(secondText ?? 0);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (zone !== undefined && zone !== 'Z') {
    const [zoneHours, zoneMinutes] = zone.slice(1).split(':').map(Number) as [number, number];
    if (zoneHours > 14 || zoneMinutes > 59) return undefined;
    offsetMinutes = (zone.startsWith('-') ? -1 : 1) * (zoneHours * 60 + zoneMinutes);
  }
  const localMs = new Date(0).setUTCFullYear(year, month - 1, day) + (hour * 60 + minute) * 60_000;
  const fromMs = localMs + second * 1000 - offsetMinutes * 60_000;
  let toMs: number;
  if (secondText !== undefined) toMs = fromMs + 1000;
  else if (minuteText !== undefined) toMs = fromMs + 60_000;
  else if (dayText !== undefined) toMs = new Date(0).setUTCFullYear(year, month - 1, day + 1);
  else if (monthText !== undefined) toMs = new Date(0).setUTCFullYear(year, month, 1);
  else toMs = new Date(0).setUTCFullYear(year + 1, 0, 1);
  // Microseconds are what PostgreSQL keeps: digits past the sixth narrow nothing further.
  const digits = Math.min(fraction?.length ?? 0, 6);
  const fractionMicros = BigInt((fraction ?? '').slice(0, digits).padEnd(6, '0'));
  const from = BigInt(fromMs) * MICROS_PER_MS + fractionMicros;
  const to =
    fraction === undefined ? BigInt(toMs) * MICROS_PER_MS : from + 10n ** BigInt(6 - digits);
  return { from, to };
}

function dateParameter(value: string, problems: ValidationProblem[]): InstantRange | undefined {
  const prefix = DATE_PREFIXES.find((candidate) => value.startsWith(candidate));
  const range = dateRange(prefix === undefined ? value : value.slice(2));
  if (range === undefined) {
    problems.push({
      path: '/date',
      keyword: 'format',
      message:
        'must be one date or dateTime (YYYY, YYYY-MM, YYYY-MM-DD, or with a time and zone), prefixed by eq, ge, gt, le or lt at most',
    });
    return undefined;
  }
  const from = String(range.from);
  const to = String(range.to);
  switch (prefix ?? 'eq') {
    case 'ge':
      return { fromMicros: from };
    case 'gt':
      return { fromMicros: to };
    case 'le':
      return { toMicros: to };
    case 'lt':
      return { toMicros: from };
    default:
      return { fromMicros: from, toMicros: to };
  }
}

function tokenParameter(
  name: string,
  value: string,
  problems: ValidationProblem[],
): TokenFilter | undefined {
  const bar = value.indexOf('|');
  const system = bar < 0 ? undefined : value.slice(0, bar);
  const code = bar < 0 ? value : value.slice(bar + 1);
  const valid =
    TOKEN_PART.test(code) && (system === undefined || system === '' || TOKEN_PART.test(system));
  if (!valid) {
    problems.push({
      path: `/${name}`,
      keyword: 'format',
      message: 'must be one token: code, system|code or |code',
    });
    return undefined;
  }
  if (system === undefined) return { code };
  return { system: system === '' ? null : system, code };
}

/** The parameters that name the patient: `patient`, and `subject` for types with a subject. */
function patientParametersOf(descriptor: ResourceDescriptor): readonly string[] {
  return descriptor.patientPaths.includes('subject')
    ? ['patient', 'subject', 'subject:Patient']
    : ['patient'];
}

/** The filters a type's descriptor can answer: a column is kept only where it has a path. */
function filtersOf(descriptor: ResourceDescriptor): readonly string[] {
  return [
    ...(descriptor.datePaths.length > 0 ? ['date'] : []),
    ...(descriptor.codePaths.length > 0 ? ['code'] : []),
    ...(descriptor.categoryPaths.length > 0 ? ['category'] : []),
    ...(descriptor.statusPath === undefined ? [] : ['status']),
  ];
}

/** The search parameters `GET /fhir/r4/{type}` takes for a patient-data type. */
export function searchParametersOf(descriptor: ResourceDescriptor): readonly string[] {
  return [...patientParametersOf(descriptor), ...filtersOf(descriptor), '_count', '_cursor'];
}

function parseSearch(descriptor: ResourceDescriptor, query: SearchQuery): ResourceSearch {
  const { resourceType } = descriptor;
  const filters = filtersOf(descriptor);
  const patientNames = patientParametersOf(descriptor);
  const problems: ValidationProblem[] = [];
  refuseUnknown(
    query,
    new Set([...patientNames, ...filters, '_count', '_cursor', '_format']),
    problems,
  );
  const patientId = patientParameter(resourceType, patientNames, query, problems);
  const count = countParameter(query['_count'], problems);
  const after = cursorParameter(query['_cursor'], decodeCursor, problems);
  const given = (name: string): string | undefined =>
    filters.includes(name) ? query[name] : undefined;
  const dateText = given('date');
  const date = dateText === undefined ? undefined : dateParameter(dateText, problems);
  const codeText = given('code');
  const code = codeText === undefined ? undefined : tokenParameter('code', codeText, problems);
  const categoryText = given('category');
  const category =
    categoryText === undefined ? undefined : tokenParameter('category', categoryText, problems);
  const statusText = given('status');
  const status =
    statusText === undefined ? undefined : tokenParameter('status', statusText, problems);
  if (status?.system !== undefined) {
    problems.push({ path: '/status', keyword: 'format', message: 'must be one status code' });
  }
  if (problems.length > 0 || patientId === undefined) {
    throw new InputValidationError(`the ${resourceType} search is invalid`, problems);
  }
  return {
    resourceType,
    patientId,
    count,
    ...(after === undefined ? {} : { after }),
    ...(date === undefined || dateText === undefined ? {} : { date, dateText }),
    ...(code === undefined ? {} : { code }),
    ...(category === undefined ? {} : { category: category.code }),
    ...(status === undefined ? {} : { status: status.code }),
  };
}

/**
 * Parses the query string of a search of a patient-data type: one patient, and date, code,
 * category and status where the type's descriptor has them. A bad parameter is named, its
 * value never echoed; unknown parameters are refused rather than ignored, so no client takes
 * an unfiltered answer for a filtered one. The caller answers 404 for a type that
 * {@link patientDataDescriptor} does not know; here it is a 400.
 */
export function parseResourceSearch(resourceType: string, query: SearchQuery): ResourceSearch {
  const descriptor = patientDataDescriptor(resourceType);
  if (descriptor === undefined) {
    throw new InputValidationError(`${resourceType} is not searched by patient`, [
      { path: '', keyword: 'enum', message: 'is not a patient-data resource type' },
    ]);
  }
  return parseSearch(descriptor, query);
}

function tokenText(filter: TokenFilter): string {
  if (filter.system === undefined) return filter.code;
  return `${filter.system ?? ''}|${filter.code}`;
}

/** The URL of a page of the search, with the parameters as the server understood them. */
export function resourceSearchUrl(
  base: string,
  search: ResourceSearch,
  after: SearchPosition | undefined = search.after,
): string {
  const parameters = new URLSearchParams({ patient: search.patientId.toLowerCase() });
  if (search.dateText !== undefined) parameters.set('date', search.dateText);
  if (search.code !== undefined) parameters.set('code', tokenText(search.code));
  if (search.category !== undefined) parameters.set('category', search.category);
  if (search.status !== undefined) parameters.set('status', search.status);
  parameters.set('_count', String(search.count));
  if (after !== undefined) parameters.set('_cursor', encodeCursor(after));
  return `${base}/${search.resourceType}?${parameters}`;
}

/** Whether `$everything`'s `_type` may name that type: Patient, patient data, shared. */
function isEverythingType(resourceType: string): boolean {
  return isStoredType(resourceType);
}

function typesParameter(value: string, problems: ValidationProblem[]): string[] | undefined {
  const types = value.split(',');
  if (types.some((type) => !isEverythingType(type))) {
    problems.push({
      path: '/_type',
      keyword: 'enum',
      message: 'must be R4 resource types this server stores, separated by commas',
    });
    return undefined;
  }
  return [...new Set(types)];
}

function sinceParameter(value: string, problems: ValidationProblem[]): string | undefined {
  const range = INSTANT_VALUE.test(value) ? dateRange(value) : undefined;
  if (range === undefined) {
    problems.push({
      path: '/_since',
      keyword: 'format',
      message: 'must be an instant: YYYY-MM-DDThh:mm:ss with a zone',
    });
    return undefined;
  }
  return String(range.from);
}

/** Parses `GET /fhir/r4/Patient/{id}/$everything`'s query: _count, _since, _type, _cursor. */
export function parseEverything(query: SearchQuery): EverythingSearch {
  const problems: ValidationProblem[] = [];
  refuseUnknown(query, new Set(['_count', '_since', '_type', '_cursor', '_format']), problems);
  const count = countParameter(query['_count'], problems);
  const after = cursorParameter(query['_cursor'], decodeEverythingCursor, problems);
  const sinceText = query['_since'];
  const sinceMicros = sinceText === undefined ? undefined : sinceParameter(sinceText, problems);
  const typeText = query['_type'];
  const types = typeText === undefined ? undefined : typesParameter(typeText, problems);
  if (problems.length > 0) {
    throw new InputValidationError('the $everything parameters are invalid', problems);
  }
  return {
    count,
    ...(after === undefined ? {} : { after }),
    ...(sinceMicros === undefined || sinceText === undefined ? {} : { sinceMicros, sinceText }),
    ...(types === undefined ? {} : { types }),
  };
}

/** The URL of a page of `$everything`, with the parameters as the server understood them. */
export function everythingUrl(
  base: string,
  patientId: string,
  search: EverythingSearch,
  after: EverythingPosition | undefined = search.after,
): string {
  const parameters = new URLSearchParams({ _count: String(search.count) });
  if (search.sinceText !== undefined) parameters.set('_since', search.sinceText);
  if (search.types !== undefined) parameters.set('_type', search.types.join(','));
  if (after !== undefined) parameters.set('_cursor', encodeEverythingCursor(after));
  return `${base}/Patient/${encodeURIComponent(patientId.toLowerCase())}/$everything?${parameters}`;
}
