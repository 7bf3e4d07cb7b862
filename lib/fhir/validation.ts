/**
 * Schema validation of the flat format. Problems name schema locations and keywords only:
 * they end up in rejections, logs and API responses, so nothing the sender wrote (values,
 * unexpected keys) may appear in them.
 */
import type { ErrorObject } from 'ajv';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FlatEnvelope } from './flatSchema.ts';
import {
  BIRTH_DATE_FORMAT,
  flatEnvelopeSchemaWith,
  MRN_PATTERN,
  patientRecordSchema,
  SSN_PATTERN,
} from './flatSchema.ts';
import type { PatientRecord } from './model.ts';
import { type SchemaMessages, schemaMessage } from './schemaMessages.ts';
import { unstorableTexts } from './storableText.ts';

/** One failing location; the same shape as `ValidationProblem` in lib/errors.ts. */
export interface SchemaProblem {
  readonly path: string;
  readonly keyword: string;
  readonly message: string;
}

export type RecordValidation<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly problems: readonly SchemaProblem[] };

export interface PatientRecordValidatorOptions {
  /** The clock the birth-date format judges "the future" by. */
  readonly now?: () => Date;
}

export type PatientRecordValidator = (record: unknown) => RecordValidation<PatientRecord>;
export type FlatEnvelopeValidator = (body: unknown) => RecordValidation<FlatEnvelope>;

/** The part of a JSON Schema that tells which instance path segments are declared names. */
interface SchemaNode {
  readonly [keyword: string]: unknown;
  readonly type?: string;
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly additionalProperties?: boolean | SchemaNode;
  readonly items?: SchemaNode;
}

const EARLIEST_BIRTH_YEAR = 1850;
// UTC+14 (Line Islands) is the first zone to reach a date, so a baby born today anywhere passes.
const EARLIEST_ZONE_OFFSET_MS = 14 * 60 * 60 * 1000;
const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
const ARRAY_INDEX = /^(?:0|[1-9]\d*)$/;

// ajv-formats is CommonJS: Node's default import is module.exports, and its `default` is the plugin.
const addFormats = addFormatsModule.default;

// Formats get no call context, so each validation sets the bound the birth-date format reads.
let latestBirthDate = '';

function latestBirthDateAt(now: Date): string {
  return new Date(now.getTime() + EARLIEST_ZONE_OFFSET_MS).toISOString().slice(0, 10);
}

function isBirthDate(value: string): boolean {
  const match = DATE_PATTERN.exec(value);
  if (match === null) return false;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  if (year < EARLIEST_BIRTH_YEAR) return false;
  const date = new Date(Date.UTC(year, month - 1, day));
  const isCalendarDate =
    date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
  // Same-length ISO dates compare correctly as strings.
  return isCalendarDate && value <= latestBirthDate;
}

// Compiling registers no $id, so the envelope can be compiled for several limits on one instance.
const ajv = new Ajv({ allErrors: true, strict: true, addUsedSchema: false });
addFormats(ajv);
ajv.addFormat(BIRTH_DATE_FORMAT, { type: 'string', validate: isBirthDate });

const PATTERN_MESSAGES: ReadonlyMap<string, string> = new Map([
  [MRN_PATTERN, 'must be printable ASCII without leading or trailing spaces'],
  [SSN_PATTERN, 'must match NNN-NN-NNNN'],
]);

const FORMAT_MESSAGES: ReadonlyMap<string, string> = new Map([
  [BIRTH_DATE_FORMAT, 'must be a real calendar date YYYY-MM-DD from 1850 on, not in the future'],
]);

const MESSAGES: SchemaMessages = { patterns: PATTERN_MESSAGES, formats: FORMAT_MESSAGES };

/** The instance path with every segment the schema does not declare (a sender's key) as `*`. */
function publicPath(instancePath: string, schema: SchemaNode): string {
  let node: SchemaNode | undefined = schema;
  let path = '';
  for (const segment of instancePath.split('/').slice(1)) {
    const properties: Readonly<Record<string, SchemaNode>> | undefined = node?.properties;
    const declared: SchemaNode | undefined =
      properties !== undefined && Object.hasOwn(properties, segment)
        ? properties[segment]
        : undefined;
    if (declared !== undefined) {
      path += `/${segment}`;
      node = declared;
    } else if (node?.type === 'array' && ARRAY_INDEX.test(segment)) {
      path += `/${segment}`;
      node = node.items;
    } else {
      path += '/*';
      node = typeof node?.additionalProperties === 'object' ? node.additionalProperties : undefined;
    }
  }
  return path;
}

function compareProblems(a: SchemaProblem, b: SchemaProblem): number {
  if (a.path !== b.path) return a.path < b.path ? -1 : 1;
  if (a.keyword !== b.keyword) return a.keyword < b.keyword ? -1 : 1;
  if (a.message !== b.message) return a.message < b.message ? -1 : 1;
  return 0;
}

function problemsOf(
  errors: readonly ErrorObject[] | null | undefined,
  schema: SchemaNode,
  instance: unknown,
): SchemaProblem[] {
  const unique = new Map<string, SchemaProblem>();
  const located = [
    ...(errors ?? []).map((error) => ({
      instancePath: error.instancePath,
      keyword: error.keyword,
      message: schemaMessage(error, MESSAGES),
    })),
    ...unstorableTexts(instance),
  ];
  for (const { instancePath, keyword, message } of located) {
    const problem = { path: publicPath(instancePath, schema), keyword, message };
    unique.set(JSON.stringify([problem.path, problem.keyword, problem.message]), problem);
  }
  return [...unique.values()].sort(compareProblems);
}

/** Call once per cold start; ajv compiles the schema on the first call and caches it. */
export function createPatientRecordValidator(
  options: PatientRecordValidatorOptions = {},
): PatientRecordValidator {
  const now = options.now ?? (() => new Date());
  const validate = ajv.compile<PatientRecord>(patientRecordSchema);
  return (record) => {
    latestBirthDate = latestBirthDateAt(now());
    const valid = validate(record);
    const problems = problemsOf(valid ? [] : validate.errors, patientRecordSchema, record);
    return valid && problems.length === 0 ? { ok: true, value: record } : { ok: false, problems };
  };
}

const envelopeValidators = new Map<number, FlatEnvelopeValidator>();

/** Checks the envelope only; each record still goes through `createPatientRecordValidator`. */
export function createFlatEnvelopeValidator(maxRecords: number): FlatEnvelopeValidator {
  const cached = envelopeValidators.get(maxRecords);
  if (cached !== undefined) return cached;
  const schema = flatEnvelopeSchemaWith(maxRecords);
  const validate = ajv.compile<FlatEnvelope>(schema);
  // Its records' text is judged record by record, with the record validator.
  const validator: FlatEnvelopeValidator = (body) =>
    validate(body)
      ? { ok: true, value: body }
      : { ok: false, problems: problemsOf(validate.errors, schema, undefined) };
  envelopeValidators.set(maxRecords, validator);
  return validator;
}
