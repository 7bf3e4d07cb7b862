/**
 * The three ways a batch arrives, told apart by media type and shape: the flat envelope
 * (`{ records: [...] }`), a FHIR R4 Bundle, and NDJSON (one FHIR resource per line). Intake
 * checks the envelope and counts its records; Extract splits the same body into records.
 * Problems name positions and keywords, never what the sender wrote.
 */
import type { InputFormat } from '../db/repositories/ingestRuns.ts';
import { InputValidationError, PayloadTooLargeError } from '../errors.ts';
import type { SchemaProblem } from '../fhir/validation.ts';
import { createFlatEnvelopeValidator } from '../fhir/validation.ts';
import { isJsonObject, parseJson } from '../json.ts';
import { FHIR_JSON_MEDIA_TYPE, JSON_MEDIA_TYPE, NDJSON_MEDIA_TYPE } from '../mediaTypes.ts';

/** What `POST /api/v1/ingest` accepts. */
export const INGEST_MEDIA_TYPES = [JSON_MEDIA_TYPE, FHIR_JSON_MEDIA_TYPE, NDJSON_MEDIA_TYPE];

/** Bundle types whose entries are resources to load; a searchset or history is a read result. */
export const INGESTIBLE_BUNDLE_TYPES = ['collection', 'batch', 'transaction'] as const;

export interface ClassifiedBatch {
  readonly format: InputFormat;
  readonly recordCount: number;
}

/** A Bundle entry as Extract hands it on: the resource, and the fullUrl others may refer to it by. */
export interface BundleEntry {
  readonly resource: unknown;
  readonly fullUrl?: string;
}

function invalid(message: string, problems: readonly SchemaProblem[]): InputValidationError {
  return new InputValidationError(message, problems);
}

function tooMany(maxRecords: number): PayloadTooLargeError {
  return new PayloadTooLargeError(`a batch holds at most ${maxRecords} records`);
}

/**
 * The lines of an NDJSON body, each one record: a final newline ends the last line rather
 * than starting an empty one, and a CR before a newline is dropped.
 */
export function ndjsonLines(body: string): string[] {
  const lines = body.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
}

function checkBundle(bundle: Readonly<Record<string, unknown>>, maxRecords: number): number {
  const problems: SchemaProblem[] = [];
  const type = bundle['type'];
  if (!(INGESTIBLE_BUNDLE_TYPES as readonly unknown[]).includes(type)) {
    problems.push({
      path: '/type',
      keyword: 'enum',
      message: `must be one of ${INGESTIBLE_BUNDLE_TYPES.join(', ')}`,
    });
  }
  const entry = bundle['entry'];
  if (!Array.isArray(entry) || entry.length === 0) {
    problems.push({ path: '/entry', keyword: 'minItems', message: 'must hold at least one entry' });
  }
  if (problems.length > 0) throw invalid('the Bundle cannot be ingested', problems);
  const count = (entry as unknown[]).length;
  if (count > maxRecords) throw tooMany(maxRecords);
  return count;
}

function classifyFhirJson(parsed: unknown, maxRecords: number): ClassifiedBatch {
  if (!isJsonObject(parsed) || parsed['resourceType'] !== 'Bundle') {
    throw invalid('a FHIR JSON body must be a Bundle', [
      {
        path: '/resourceType',
        keyword: 'const',
        message: `must be Bundle; send single resources as ${NDJSON_MEDIA_TYPE}`,
      },
    ]);
  }
  return { format: 'fhir-bundle', recordCount: checkBundle(parsed, maxRecords) };
}

function classifyFlat(parsed: unknown, maxRecords: number): ClassifiedBatch {
  const records = isJsonObject(parsed) ? parsed['records'] : undefined;
  if (Array.isArray(records) && records.length > maxRecords) throw tooMany(maxRecords);
  // Compiled once per limit and cached by lib/fhir/validation.ts.
  const result = createFlatEnvelopeValidator(maxRecords)(parsed);
  if (!result.ok) throw invalid('the batch envelope is invalid', result.problems);
  return { format: 'flat', recordCount: result.value.records.length };
}

function classifyNdjson(raw: string, maxRecords: number): ClassifiedBatch {
  const lines = ndjsonLines(raw);
  if (lines.length > maxRecords) throw tooMany(maxRecords);
  if (lines.every((line) => line.trim() === '')) {
    throw invalid('the NDJSON body holds no resources', [
      { path: '', keyword: 'minItems', message: 'must hold at least one line with a resource' },
    ]);
  }
  return { format: 'ndjson', recordCount: lines.length };
}

/**
 * The batch's format and record count, or the 400/413 error that refuses it. Under
 * `application/json` a body with a `resourceType` is read as FHIR, anything else as the flat
 * envelope. NDJSON lines are parsed one by one in Extract: one bad line rejects only itself.
 */
export function classifyBatch(
  raw: string,
  contentType: string,
  maxRecords: number,
): ClassifiedBatch {
  if (contentType === NDJSON_MEDIA_TYPE) return classifyNdjson(raw, maxRecords);
  const parsed = parseJson(raw);
  if (
    contentType === FHIR_JSON_MEDIA_TYPE ||
    (isJsonObject(parsed) && Object.hasOwn(parsed, 'resourceType'))
  ) {
    return classifyFhirJson(parsed, maxRecords);
  }
  return classifyFlat(parsed, maxRecords);
}

/** A Bundle's entries; intake has checked the envelope, so anything else is a corrupt payload. */
export function bundleEntries(bundle: unknown): BundleEntry[] | undefined {
  if (!isJsonObject(bundle) || !Array.isArray(bundle['entry'])) return undefined;
  return bundle['entry'].map((entry: unknown) => {
    if (!isJsonObject(entry)) return { resource: undefined };
    const fullUrl = entry['fullUrl'];
    return {
      resource: entry['resource'],
      ...(typeof fullUrl === 'string' ? { fullUrl } : {}),
    };
  });
}
