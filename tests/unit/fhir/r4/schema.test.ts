import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  BASE64_PATTERN,
  CALENDAR_DATE_FORMAT,
  ELEMENT_TYPE,
  EMBEDDED_RESOURCE_STUB,
  FHIR_R4_SCHEMA_ID,
  FHIR_STRING_MAX_LENGTH,
  PATTERN_REPLACEMENTS,
  SCHEMA_ROOTS,
} from '../../../../lib/fhir/r4/schemaRules.ts';
import type { JsonObject, JsonValue } from '../../../../scripts/extract-fhir-schema.ts';
import {
  extractFhirR4Schema,
  formatCompactJson,
  generateFhirR4SchemaFile,
  generateResourceTypesFile,
  RESOURCE_TYPES_FILE,
  SCHEMA_FILE,
} from '../../../../scripts/extract-fhir-schema.ts';

const committed = readFileSync(SCHEMA_FILE, 'utf8');
const schema = JSON.parse(committed) as { $id: string; definitions: Record<string, JsonObject> };

/** Every value under `keyword` anywhere in the schema, keyword position or not. */
function valuesOf(value: JsonValue, keyword: string): JsonValue[] {
  if (Array.isArray(value)) return value.flatMap((item) => valuesOf(item, keyword));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, item]) => [
    ...(key === keyword ? [item] : []),
    ...valuesOf(item, keyword),
  ]);
}

const STRING_PATTERN = '^[ \\r\\n\\t\\S]+$';
const DATE_PATTERN = '^\\d{4}(-\\d{2})?$';
const DATE_TIME_PATTERN = '^\\d{4}(-\\d{2}(-\\d{2})?)?$';
const INSTANT_PATTERN = '^\\d{4}-\\d{2}-\\d{2}T.+$';
const OFFICIAL_BASE64 = [...PATTERN_REPLACEMENTS.keys()][0] ?? '';

const ROOTS = ['Patient', 'Observation', 'Consent', 'Bundle'];

/** A stand-in for the official file: four roots and the primitives the rules read. */
function officialSchema(extra: JsonObject = {}): JsonObject {
  return {
    $schema: 'http://json-schema.org/draft-06/schema#',
    id: FHIR_R4_SCHEMA_ID,
    definitions: {
      string: { pattern: STRING_PATTERN, type: 'string', description: 'A string' },
      date: { pattern: DATE_PATTERN, type: 'string' },
      dateTime: { pattern: DATE_TIME_PATTERN, type: 'string' },
      instant: { pattern: INSTANT_PATTERN, type: 'string' },
      Patient: {
        description: 'A patient',
        properties: {
          resourceType: { const: 'Patient' },
          description: {
            description: 'a property named description stays',
            $ref: '#/definitions/string',
          },
          birthDate: { $ref: '#/definitions/date' },
          contained: { items: { $ref: '#/definitions/ResourceList' }, type: 'array' },
        },
        additionalProperties: false,
        required: ['resourceType'],
      },
      Observation: {
        properties: {
          effectiveDateTime: { pattern: DATE_TIME_PATTERN, type: 'string' },
          valueString: { pattern: STRING_PATTERN, type: 'string' },
          valueBase64Binary: { pattern: OFFICIAL_BASE64, type: 'string' },
        },
      },
      Consent: { properties: { status: { enum: ['active', 'inactive'] } } },
      Bundle: { properties: { type: { enum: ['collection'] } } },
      ResourceList: { oneOf: [{ $ref: '#/definitions/Patient' }] },
      Unreached: { properties: { x: { $ref: '#/definitions/string' } } },
      ...extra,
    },
  };
}

describe('lib/fhir/r4/fhirR4.schema.json', () => {
  it('is exactly what scripts/extract-fhir-schema.ts writes', () => {
    // Act
    const generated = generateFhirR4SchemaFile();

    // Assess
    expect(committed, 'regenerate it: npm run generate:fhir-schema').toBe(generated);
  });

  it('holds every R4 resource type, no type Medplum adds, and the stub for embedded ones', () => {
    // Assess
    expect(schema.$id).toBe(FHIR_R4_SCHEMA_ID);
    expect(SCHEMA_ROOTS).toEqual(expect.arrayContaining(['Condition', 'Immunization', 'Patient']));
    expect(Object.keys(schema.definitions)).toEqual(
      expect.arrayContaining([...SCHEMA_ROOTS, 'Bundle_Entry']),
    );
    expect(schema.definitions['ResourceList']).toEqual(EMBEDDED_RESOURCE_STUB);
    expect(Object.keys(schema.definitions)).not.toContain('Project');
  });

  it('refers only to definitions it holds, never through a bare $ref', () => {
    // Prepare
    const refs = valuesOf(schema.definitions, '$ref');

    // Assess
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      const name = String(ref).replace('#/definitions/', '');
      expect(Object.hasOwn(schema.definitions, name), String(ref)).toBe(true);
      expect(Object.keys(schema.definitions[name] ?? {})).not.toEqual(['$ref']);
    }
  });

  it('types as an object every node that declares properties', () => {
    // Prepare
    const untyped: string[] = [];
    const visit = (node: JsonValue, where: string): void => {
      if (node === null || typeof node !== 'object' || Array.isArray(node)) return;
      if (Object.hasOwn(node, 'properties') && node['type'] === undefined) untyped.push(where);
      for (const [key, child] of Object.entries(node)) visit(child, `${where}/${key}`);
    };

    // Act
    visit(schema.definitions, '');

    // Assess
    expect(untyped).toEqual([]);
    expect(schema.definitions['Reference']).toMatchObject({ type: ELEMENT_TYPE });
  });

  it('carries the calendar format, the string limit and the linear base64 pattern', () => {
    // Prepare
    const patterns = valuesOf(schema.definitions, 'pattern');

    // Assess
    expect(schema.definitions['date']).toMatchObject({ format: CALENDAR_DATE_FORMAT });
    expect(schema.definitions['string']).toMatchObject({ maxLength: FHIR_STRING_MAX_LENGTH });
    expect(patterns).toContain(BASE64_PATTERN);
    expect(schema.definitions['base64Binary']).toEqual({ type: 'string', pattern: BASE64_PATTERN });
    expect(patterns).not.toContain(OFFICIAL_BASE64);
    expect(valuesOf(schema.definitions['Observation'] ?? {}, 'format')).toContain(
      CALENDAR_DATE_FORMAT,
    );
  });
});

describe('extractFhirR4Schema', () => {
  it('keeps what the roots reach, without annotations, with the rules applied', () => {
    // Act
    const extracted = extractFhirR4Schema(officialSchema(), ROOTS);

    // Assess
    expect(extracted).toEqual({
      $id: FHIR_R4_SCHEMA_ID,
      definitions: {
        Bundle: { properties: { type: { enum: ['collection'] } }, type: 'object' },
        Consent: { properties: { status: { enum: ['active', 'inactive'] } }, type: 'object' },
        Observation: {
          properties: {
            effectiveDateTime: {
              pattern: DATE_TIME_PATTERN,
              format: CALENDAR_DATE_FORMAT,
              type: 'string',
            },
            valueString: {
              pattern: STRING_PATTERN,
              maxLength: FHIR_STRING_MAX_LENGTH,
              type: 'string',
            },
            valueBase64Binary: { pattern: BASE64_PATTERN, type: 'string' },
          },
          type: 'object',
        },
        Patient: {
          properties: {
            resourceType: { const: 'Patient' },
            description: { $ref: '#/definitions/string' },
            birthDate: { $ref: '#/definitions/date' },
            contained: { items: { $ref: '#/definitions/ResourceList' }, type: 'array' },
          },
          type: 'object',
          additionalProperties: false,
          required: ['resourceType'],
        },
        ResourceList: EMBEDDED_RESOURCE_STUB,
        date: { pattern: DATE_PATTERN, format: CALENDAR_DATE_FORMAT, type: 'string' },
        string: { pattern: STRING_PATTERN, maxLength: FHIR_STRING_MAX_LENGTH, type: 'string' },
      },
    });
  });

  it.each([
    {
      label: 'another schema id',
      official: { ...officialSchema(), id: 'http://hl7.org/fhir/json-schema/5.0' },
      message: 'expected the FHIR R4 schema',
    },
    {
      label: 'a keyword the extraction does not know',
      official: officialSchema({ Bundle: { properties: { type: { anyOf: [] } } } }),
      message: 'Bundle/properties/type: unsupported keyword anyOf',
    },
    {
      label: 'a $ref outside the definitions',
      official: officialSchema({ Consent: { $ref: 'http://example.org/other.json' } }),
      message: 'Consent: unsupported $ref',
    },
    {
      label: 'a missing definition',
      official: officialSchema({ Consent: { $ref: '#/definitions/Missing' } }),
      message: 'definition Missing is missing',
    },
  ])('fails the build on $label', ({ official, message }) => {
    // Act
    const act = (): unknown => extractFhirR4Schema(official, ROOTS);

    // Assess
    expect(act).toThrow(message);
  });
});

describe('formatCompactJson', () => {
  it('lays JSON out as Biome does: what fits in 100 columns on one line, else a member a line', () => {
    // Prepare
    const long = Array.from({ length: 12 }, (_, i) => `value-number-${i}`);
    const value = { a: { required: ['x', 'y'], empty: {}, none: [] }, long };

    // Act
    const text = formatCompactJson(value);

    // Assess
    expect(text).toBe(
      [
        '{',
        '  "a": { "required": ["x", "y"], "empty": {}, "none": [] },',
        '  "long": [',
        ...long.map((item, i) => `    "${item}"${i < long.length - 1 ? ',' : ''}`),
        '  ]',
        '}',
        '',
      ].join('\n'),
    );
    expect(JSON.parse(text)).toEqual(value);
  });
});

describe('lib/fhir/r4/resourceTypes.json', () => {
  const resourceTypes = readFileSync(RESOURCE_TYPES_FILE, 'utf8');

  it('is exactly what scripts/extract-fhir-schema.ts writes', () => {
    // Act
    const generated = generateResourceTypesFile();

    // Assess
    expect(resourceTypes, 'regenerate it: npm run generate:fhir-schema').toBe(generated);
  });

  it('names the concrete R4 resource types and nothing a server or R4B added', () => {
    // Prepare
    const names: unknown = JSON.parse(resourceTypes);

    // Assess
    expect(names).toEqual(
      expect.arrayContaining(['Patient', 'Observation', 'Consent', 'Bundle', 'Immunization']),
    );
    expect(names).not.toEqual(expect.arrayContaining(['Resource']));
    expect(names).not.toEqual(expect.arrayContaining(['DomainResource']));
    expect(names).not.toEqual(expect.arrayContaining(['Project']));
    expect(names).not.toEqual(expect.arrayContaining(['Bot']));
    expect(names).not.toEqual(expect.arrayContaining(['SubscriptionStatus']));
  });
});
