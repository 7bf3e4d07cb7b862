/**
 * FHIR R4 JSON Schema validation of every R4 resource type, against the definitions
 * scripts/extract-fhir-schema.ts extracted at build time. Each type's validator is compiled on
 * its first use and kept: compiling the whole schema takes seconds, too long for a cold start.
 * Problems follow the flat validator: they name schema locations and keywords only, never what
 * the sender wrote.
 */
import { gunzipSync } from 'node:zlib';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { Ajv } from 'ajv';
import { isJsonObject } from '../../json.ts';
import { type SchemaMessages, schemaMessage } from '../schemaMessages.ts';
import { unstorableTexts } from '../storableText.ts';
import type { RecordValidation, SchemaProblem } from '../validation.ts';
import { FHIR_R4_SCHEMA_GZIP } from './fhirR4.schema.ts';
import type { FhirAnyResource } from './model.ts';
import { sortedProblems } from './problems.ts';
import {
  BASE64_PATTERN,
  CALENDAR_DATE_FORMAT,
  FHIR_R4_SCHEMA_ID,
  REQUIRED_ELEMENT_NAME,
  SCHEMA_ROOTS,
} from './schemaRules.ts';

/** The part of a JSON Schema that tells which instance path segments are declared names. */
interface SchemaNode {
  readonly [keyword: string]: unknown;
  readonly $ref?: string;
  readonly type?: string;
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly items?: SchemaNode;
  readonly allOf?: readonly SchemaNode[];
}

interface SchemaDocument {
  readonly $id: string;
  readonly definitions: Readonly<Record<string, SchemaNode>>;
}

let parsedSchema: SchemaDocument | undefined;

/** The schema, parsed on first use: a cold start that validates nothing pays nothing for it. */
function schemaDocument(): SchemaDocument {
  parsedSchema ??= JSON.parse(
    gunzipSync(Buffer.from(FHIR_R4_SCHEMA_GZIP, 'base64')).toString('utf8'),
  ) as SchemaDocument;
  return parsedSchema;
}

const DEFINITION_REF = '#/definitions/';
const ARRAY_INDEX = /^(?:0|[1-9]\d*)$/;
// An element with alternatives (`x` or `_x`, a choice's variants), relative to its definition.
const REQUIRED_ELEMENT = /^#\/allOf\/(\d+)\/anyOf$/;
// Months and days out of range fail R4's pattern; the format judges only what the pattern lets by.
const DAY_PREFIX = /^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])/;

/** What a value failing a primitive type's pattern must be, by the type's definition name. */
const PRIMITIVE_MESSAGES: ReadonlyMap<string, string> = new Map([
  ['string', 'must be a non-empty string whose only whitespace is space, tab, CR or LF'],
  ['code', 'must be a code: no leading, trailing or repeated whitespace'],
  ['id', 'must be an id: 1 to 64 letters, digits, "-" or "."'],
  ['uri', 'must be a URI without whitespace'],
  ['date', 'must be a date: YYYY, YYYY-MM or YYYY-MM-DD'],
  ['dateTime', 'must be a dateTime: YYYY, YYYY-MM, YYYY-MM-DD or a date and time with a zone'],
  ['instant', 'must be an instant: a date and time with seconds and a zone'],
  ['time', 'must be a time: hh:mm:ss'],
]);

const FORMAT_MESSAGES: ReadonlyMap<string, string> = new Map([
  [CALENDAR_DATE_FORMAT, 'must be a real calendar date'],
]);

let messages: SchemaMessages | undefined;

/** The messages of the schema's patterns and formats, read from the schema on first use. */
function schemaMessages(): SchemaMessages {
  if (messages !== undefined) return messages;
  const { definitions } = schemaDocument();
  // Choice elements (valueString, effectiveDateTime) repeat a primitive's pattern inline.
  const patterns: ReadonlyMap<string, string> = new Map([
    [BASE64_PATTERN, 'must be base64'],
    ...[...PRIMITIVE_MESSAGES].flatMap(([name, message]): [string, string][] => {
      const pattern = definitions[name]?.['pattern'];
      return typeof pattern === 'string' ? [[pattern, message]] : [];
    }),
  ]);
  messages = { patterns, formats: FORMAT_MESSAGES };
  return messages;
}

/** Partial dates (a year, a year and month) name no day; a full one must exist in its month. */
function isCalendarDate(value: string): boolean {
  const match = DAY_PREFIX.exec(value);
  if (match === null) return true;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, keeps years 0001-0099 (which R4 allows) as they are.
  date.setUTCFullYear(year, month - 1, day);
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/** The definition a `$ref` names (R4 definitions are never bare `$ref`s), or the node itself. */
function resolved(node: SchemaNode | undefined): SchemaNode | undefined {
  if (node?.$ref === undefined) return node;
  const name = node.$ref.slice(DEFINITION_REF.length);
  const { definitions } = schemaDocument();
  return Object.hasOwn(definitions, name) ? definitions[name] : undefined;
}

interface Walked {
  /** The instance path with every segment the schema does not declare (a sender's key) as `*`. */
  readonly path: string;
  readonly node: SchemaNode | undefined;
}

/** Where an instance path leads in the schema: its public form, and the node it reaches. */
function walked(instancePath: string, root: SchemaNode): Walked {
  let node = resolved(root);
  let path = '';
  for (const segment of instancePath.split('/').slice(1)) {
    const properties: Readonly<Record<string, SchemaNode>> | undefined = node?.properties;
    if (properties !== undefined && Object.hasOwn(properties, segment)) {
      path += `/${segment}`;
      node = resolved(properties[segment]);
    } else if (node?.type === 'array' && ARRAY_INDEX.test(segment)) {
      path += `/${segment}`;
      node = resolved(node.items);
    } else {
      // R4 closes every element with additionalProperties: false, so nothing below is declared.
      path += '/*';
      node = undefined;
    }
  }
  return { path, node };
}

/** The name the extraction gave an element none of whose alternatives came: `value[x]`. */
function requiredElementName(error: ErrorObject, root: SchemaNode): string | undefined {
  const index = REQUIRED_ELEMENT.exec(error.schemaPath)?.[1];
  if (index === undefined) return undefined;
  const name = walked(error.instancePath, root).node?.allOf?.[Number(index)]?.[
    REQUIRED_ELEMENT_NAME
  ];
  return typeof name === 'string' ? name : undefined;
}

/**
 * One problem an error makes: a required element without any of its alternatives is named like
 * any other required property, and the alternatives' own errors are left out.
 */
function schemaProblems(errors: readonly ErrorObject[], root: SchemaNode) {
  const alternatives = errors.filter(({ keyword }) => keyword === 'anyOf');
  return errors.flatMap((error) => {
    const isAlternative = alternatives.some(
      (failed) =>
        failed.instancePath === error.instancePath &&
        error.schemaPath.startsWith(`${failed.schemaPath}/`),
    );
    if (isAlternative) return [];
    const element = error.keyword === 'anyOf' ? requiredElementName(error, root) : undefined;
    return [
      element === undefined
        ? { ...error, message: schemaMessage(error, schemaMessages()) }
        : { ...error, keyword: 'required', message: `is required: ${element}` },
    ];
  });
}

/** The schema's errors, and every string or property name PostgreSQL could not store. */
function problemsOf(
  errors: readonly ErrorObject[] | null | undefined,
  root: SchemaNode,
  instance: unknown,
): SchemaProblem[] {
  return sortedProblems(
    [...schemaProblems(errors ?? [], root), ...unstorableTexts(instance)].map(
      ({ instancePath, keyword, message }) => ({
        path: walked(instancePath, root).path,
        keyword,
        message,
      }),
    ),
  );
}

function rejected<T>(problem: SchemaProblem): RecordValidation<T> {
  return { ok: false, problems: [problem] };
}

const R4_RESOURCE_TYPES: ReadonlySet<string> = new Set(SCHEMA_ROOTS);

interface CompiledType {
  readonly validate: ValidateFunction;
  readonly root: SchemaNode;
}

// One per process: a type compiled for one batch serves every later one.
let compiler: Ajv | undefined;
const compiledTypes = new Map<string, CompiledType>();

/** The schema registered, nothing compiled: ajv compiles what a type reaches when it is asked. */
function schemaCompiler(): Ajv {
  if (compiler !== undefined) return compiler;
  // R4 puts `pattern` on booleans and numbers, which strict mode refuses; without
  // ajv's messages (messageFor writes its own) and code optimisation, compiling takes ~40% less.
  // The schema is not checked against the meta-schema at each cold start: the unit tests
  // compile every type of it.
  const ajv = new Ajv({
    allErrors: true,
    strict: false,
    messages: false,
    validateSchema: false,
    code: { optimize: false },
  });
  ajv.addFormat(CALENDAR_DATE_FORMAT, { type: 'string', validate: isCalendarDate });
  ajv.addSchema(schemaDocument());
  compiler = ajv;
  return ajv;
}

/** One type's validator, compiled on its first use; types share the data types' compiled code. */
function compiledType(resourceType: string): CompiledType {
  const found = compiledTypes.get(resourceType);
  if (found !== undefined) return found;
  const root: SchemaNode = { $ref: `${DEFINITION_REF}${resourceType}` };
  const validate = schemaCompiler().compile({ $ref: `${FHIR_R4_SCHEMA_ID}${root.$ref}` });
  const type = { validate, root };
  compiledTypes.set(resourceType, type);
  return type;
}

/**
 * Validates one resource of any R4 type against the definition its `resourceType` names,
 * compiling that type's validator on its first use. A Bundle's entries and contained resources
 * are checked for a `resourceType` only: validate each one on its own.
 */
export function validateR4Resource(resource: unknown): RecordValidation<FhirAnyResource> {
  if (!isJsonObject(resource)) {
    return rejected({ path: '', keyword: 'type', message: 'must be object' });
  }
  if (!Object.hasOwn(resource, 'resourceType')) {
    return rejected({ path: '', keyword: 'required', message: 'is required: resourceType' });
  }
  const resourceType = resource['resourceType'];
  if (typeof resourceType !== 'string' || !R4_RESOURCE_TYPES.has(resourceType)) {
    return rejected({
      path: '/resourceType',
      keyword: 'enum',
      message: 'must be one of the R4 resource types',
    });
  }
  const type = compiledType(resourceType);
  const valid = type.validate(resource);
  const problems = problemsOf(valid ? [] : type.validate.errors, type.root, resource);
  // The definition `resourceType` names has accepted it: an R4 resource of that type.
  return valid && problems.length === 0
    ? { ok: true, value: resource as FhirAnyResource }
    : { ok: false, problems };
}
