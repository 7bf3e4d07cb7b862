/**
 * Where the extracted FHIR R4 schema (fhirR4.schema.ts, packed) departs from the official
 * `fhir.schema.json`, kept in one place so the build script that applies them
 * (scripts/extract-fhir-schema.ts) and the validator that enforces them agree.
 */
import r4ResourceTypes from './resourceTypes.json' with { type: 'json' };

export const FHIR_R4_SCHEMA_ID = 'http://hl7.org/fhir/json-schema/4.0';

/**
 * The definitions the pipeline validates, every R4 resource type; everything they reach comes
 * along. The validator compiles one type's closure on its first use, never the whole file.
 */
export const SCHEMA_ROOTS: readonly string[] = r4ResourceTypes;

/**
 * Stands in for `ResourceList` (the oneOf over every resource type) in contained resources
 * and Bundle entries: entries are validated one by one, so one bad entry rejects only itself.
 */
export const EMBEDDED_RESOURCE_STUB = {
  type: 'object',
  required: ['resourceType'],
  properties: { resourceType: { type: 'string' } },
} as const;

/**
 * Added to every node that declares properties and no type: R4's complex types and backbone
 * elements omit `type: object`, so a Reference given as a string would pass unchecked.
 */
export const ELEMENT_TYPE = 'object';

/**
 * A format added wherever a value must match the date, dateTime or instant pattern (choice
 * elements like effectiveDateTime repeat the pattern inline): R4's patterns accept days a
 * month does not have, such as 1990-02-30.
 */
export const CALENDAR_DATE_FORMAT = 'fhir-calendar-date';
export const CALENDAR_DATE_TYPES: readonly string[] = ['date', 'dateTime', 'instant'];

/**
 * R4 datatypes: "strings SHALL NOT exceed 1MB (1024*1024 characters)"; the JSON Schema omits
 * it. Added wherever a value must match the string pattern, which markdown shares.
 */
export const FHIR_STRING_MAX_LENGTH = 1024 * 1024;
export const LENGTH_LIMITED_TYPES: readonly string[] = ['string'];

/** Accepts the strings the official base64Binary pattern accepts, in linear time. */
export const BASE64_PATTERN = '^\\s*(?:[0-9a-zA-Z\\+/=]{4}\\s*)+$';

/**
 * The official base64 pattern nests `\s*` inside `(...)+`: about 100 characters of spaced
 * groups ending in a bad one backtrack for seconds, so it is replaced.
 */
export const PATTERN_REPLACEMENTS: ReadonlyMap<string, string> = new Map([
  ['^(\\s*([0-9a-zA-Z\\+/=]){4}\\s*)+$', BASE64_PATTERN],
]);

/**
 * Primitive definitions the official schema leaves without the pattern their inline uses
 * (valueBase64Binary) carry: without it Attachment.data would take any string.
 */
export const MISSING_PATTERNS: ReadonlyMap<string, string> = new Map([
  ['base64Binary', BASE64_PATTERN],
]);

/**
 * R4's JSON Schema requires only the complex elements of minimum cardinality 1: a primitive `x`
 * may come as its extension `_x` alone, a choice `value[x]` as any variant, so it requires
 * neither. The extraction adds every element these StructureDefinitions require (min >= 1) of
 * each resource, data type and backbone element: in `required` when one property satisfies it,
 * else in `allOf` as an `anyOf` of `required` titled with the element's name, for its problem.
 */
export const REQUIRED_ELEMENT_PROFILES: readonly string[] = [
  'fhir/r4/profiles-resources.json',
  'fhir/r4/profiles-types.json',
];
export const REQUIRED_ELEMENT_NAME = 'title';

/** Medplum's profiles of these types carry R5 elements the R4 schema lacks: those are skipped. */
export const PROFILES_AHEAD_OF_R4: ReadonlySet<string> = new Set([
  'EvidenceVariable',
  'ResearchStudy',
]);
