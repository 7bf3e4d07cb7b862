import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { FHIR_R4_SCHEMA_GZIP } from '../../../../lib/fhir/r4/fhirR4.schema.ts';
import {
  BASE64_PATTERN,
  CALENDAR_DATE_FORMAT,
  ELEMENT_TYPE,
  EMBEDDED_RESOURCE_STUB,
  FHIR_R4_SCHEMA_ID,
  FHIR_STRING_MAX_LENGTH,
  PATTERN_REPLACEMENTS,
  REQUIRED_ELEMENT_NAME,
  SCHEMA_ROOTS,
} from '../../../../lib/fhir/r4/schemaRules.ts';
import type {
  JsonObject,
  JsonValue,
  RequiredElement,
} from '../../../../scripts/extract-fhir-schema.ts';
import {
  extractFhirR4Schema,
  extractRequiredElements,
  formatCompactJson,
  generateFhirR4SchemaFile,
  generateFhirR4SchemaJson,
  generateResourceTypesFile,
  RESOURCE_TYPES_FILE,
  SCHEMA_FILE,
  schemaJsonOf,
} from '../../../../scripts/extract-fhir-schema.ts';

const committed = schemaJsonOf(FHIR_R4_SCHEMA_GZIP);
const schema = JSON.parse(committed) as {
  $id: string;
  definitions: Record<string, JsonObject>;
};

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

describe('lib/fhir/r4/fhirR4.schema.ts', () => {
  it('holds exactly the schema scripts/extract-fhir-schema.ts extracts', () => {
    // Act
    const generated = generateFhirR4SchemaJson();

    // Assess
    expect(committed, 'regenerate it: npm run generate:fhir-schema').toBe(generated);
  });

  it('is a valid JSON Schema by the meta-schema (the validator does not check it at each cold start)', () => {
    // Prepare
    const ajv = new Ajv({ strict: false });

    // Act
    const valid = ajv.validateSchema(schema);

    // Assess
    expect(ajv.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('is a module of the packed schema, small enough that importing it costs a cold start nothing', () => {
    // Prepare
    const text = readFileSync(SCHEMA_FILE, 'utf8');

    // Act
    const written = generateFhirR4SchemaFile();

    // Assess
    // Compared unpacked: gzip's bytes may differ between zlib builds, the text may not.
    const packed = /'([A-Za-z0-9+/=]+)'/;
    expect(schemaJsonOf(packed.exec(written)?.[1] ?? '')).toBe(committed);
    expect(text.replace(packed, "'…'")).toBe(written.replace(packed, "'…'"));
    expect(Buffer.byteLength(text)).toBeLessThan(128 * 1024);
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

describe('lib/fhir/r4/fhirR4.schema.ts: the elements R4 requires', () => {
  const alternatives = (name: string, ...properties: string[]) => ({
    [REQUIRED_ELEMENT_NAME]: name,
    anyOf: properties.map((property) => ({ required: [property] })),
  });

  it.each([
    { definition: 'Observation', element: alternatives('status', 'status', '_status') },
    { definition: 'Encounter', element: alternatives('status', 'status', '_status') },
    { definition: 'MedicationRequest', element: alternatives('intent', 'intent', '_intent') },
    {
      definition: 'MedicationRequest',
      element: alternatives('medication[x]', 'medicationCodeableConcept', 'medicationReference'),
    },
    { definition: 'Procedure', element: alternatives('status', 'status', '_status') },
    { definition: 'Extension', element: alternatives('url', 'url', '_url') },
    { definition: 'Bundle_Request', element: alternatives('method', 'method', '_method') },
  ])('requires $element.title of a $definition, as itself or its alternatives', (expected) => {
    // Assess
    expect(schema.definitions[expected.definition]?.['allOf']).toContainEqual(expected.element);
  });

  it.each([
    { definition: 'Encounter', required: ['class'] },
    { definition: 'MedicationRequest', required: ['subject'] },
    { definition: 'Procedure', required: ['subject'] },
    { definition: 'Condition', required: ['subject'] },
    { definition: 'Narrative', required: ['div'] },
  ])('requires $required of a $definition, which only one property satisfies', (expected) => {
    // Assess
    expect(schema.definitions[expected.definition]?.['required']).toEqual(
      expect.arrayContaining(expected.required),
    );
  });

  it('names every element with alternatives, each an anyOf of one required property', () => {
    // Prepare
    const elements = valuesOf(schema.definitions, 'allOf').flat();

    // Assess
    expect(elements.length).toBeGreaterThan(300);
    for (const element of elements) {
      expect(element).toEqual({
        [REQUIRED_ELEMENT_NAME]: expect.stringMatching(/^[a-z][A-Za-z]*(?:\[x\])?$/),
        anyOf: expect.arrayContaining([{ required: [expect.any(String)] }]),
      });
    }
  });
});

describe('extractFhirR4Schema', () => {
  it('keeps what the roots reach, without annotations, with the rules applied', () => {
    // Act
    const extracted = extractFhirR4Schema(officialSchema(), ROOTS, []);

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

  it('requires each element R4 requires of a root, a backbone element or a data type', () => {
    // Prepare
    const official = officialSchema({
      Observation: {
        properties: {
          status: { $ref: '#/definitions/code' },
          _status: { $ref: '#/definitions/Element' },
          code: { $ref: '#/definitions/CodeableConcept' },
          valueString: { pattern: STRING_PATTERN, type: 'string' },
          _valueString: { $ref: '#/definitions/Element' },
          valueQuantity: { $ref: '#/definitions/CodeableConcept' },
          component: { items: { $ref: '#/definitions/Observation_Component' }, type: 'array' },
        },
        required: ['code'],
      },
      Observation_Component: { properties: { code: { $ref: '#/definitions/CodeableConcept' } } },
      code: { pattern: '^[^\\s]+$', type: 'string' },
      Element: { properties: {} },
      CodeableConcept: { properties: {} },
    });
    const required: RequiredElement[] = [
      { path: 'Observation.status', types: ['code'] },
      { path: 'Observation.code', types: ['CodeableConcept'] },
      { path: 'Observation.value[x]', types: ['Quantity', 'string'] },
      { path: 'Observation.component.code', types: ['CodeableConcept'] },
      { path: 'Unreached.x', types: ['string'] },
    ];

    // Act
    const definitions = extractFhirR4Schema(official, ['Observation'], required)['definitions'];

    // Assess
    expect(definitions).toMatchObject({
      Observation: {
        required: ['code'],
        allOf: [
          {
            [REQUIRED_ELEMENT_NAME]: 'status',
            anyOf: [{ required: ['status'] }, { required: ['_status'] }],
          },
          {
            [REQUIRED_ELEMENT_NAME]: 'value[x]',
            anyOf: [
              { required: ['valueQuantity'] },
              { required: ['valueString'] },
              { required: ['_valueString'] },
            ],
          },
        ],
      },
      Observation_Component: { required: ['code'] },
    });
    expect(definitions).not.toHaveProperty('Unreached');
  });

  it.each([
    {
      label: 'an element the schema does not declare',
      path: 'Observation.method',
      types: ['CodeableConcept'],
      message: 'Observation.method: the schema has no property for this element',
    },
    {
      label: 'a choice variant the schema does not declare',
      path: 'Observation.value[x]',
      types: ['string', 'Ratio'],
      message: 'Observation.value[x]: the schema has no property for this element',
    },
    {
      label: 'a backbone element the schema does not declare',
      path: 'Observation.referenceRange.low',
      types: ['Quantity'],
      message: 'Observation.referenceRange.low: the schema has no property for this element',
    },
  ])('fails the build on a required $label', ({ path, types, message }) => {
    // Act
    const act = (): unknown => extractFhirR4Schema(officialSchema(), ROOTS, [{ path, types }]);

    // Assess
    expect(act).toThrow(message);
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
    const act = (): unknown => extractFhirR4Schema(official, ROOTS, []);

    // Assess
    expect(act).toThrow(message);
  });
});

describe('extractRequiredElements', () => {
  const structureDefinition = (type: string, extra: JsonObject, element: JsonObject[]) => ({
    resource: {
      resourceType: 'StructureDefinition',
      type,
      kind: 'resource',
      derivation: 'specialization',
      abstract: false,
      fhirVersion: '4.0.1',
      ...extra,
      snapshot: { element },
    },
  });
  const elements = [
    { path: 'Observation', min: 0 },
    { path: 'Observation.status', min: 1, type: [{ code: 'code' }] },
    { path: 'Observation.code', min: 1, max: '1', type: [{ code: 'CodeableConcept' }] },
    { path: 'Observation.value[x]', min: 1, type: [{ code: 'Quantity' }, { code: 'string' }] },
    { path: 'Observation.note', min: 0, type: [{ code: 'Annotation' }] },
    { path: 'Observation.component.code', min: 1, type: [{ code: 'CodeableConcept' }] },
  ];

  it('lists the elements of min 1 or more of the concrete R4 resource and data types', () => {
    // Prepare
    const resources = {
      entry: [
        structureDefinition('Observation', {}, elements),
        structureDefinition('DomainResource', { abstract: true }, elements),
        structureDefinition('vitalsigns', { derivation: 'constraint' }, elements),
        structureDefinition('SubscriptionStatus', { fhirVersion: '4.3.0' }, elements),
        { resource: { resourceType: 'SearchParameter' } },
      ],
    };
    const types = {
      entry: [
        structureDefinition('Narrative', { kind: 'complex-type' }, [
          { path: 'Narrative.div', min: 1, type: [{ code: 'xhtml' }] },
        ]),
        structureDefinition('boolean', { kind: 'primitive-type' }, [
          { path: 'boolean.value', min: 1 },
        ]),
      ],
    };

    // Act
    const required = extractRequiredElements([resources, types]);

    // Assess
    expect(required).toEqual([
      { path: 'Observation.status', types: ['code'] },
      { path: 'Observation.code', types: ['CodeableConcept'] },
      { path: 'Observation.value[x]', types: ['Quantity', 'string'] },
      { path: 'Observation.component.code', types: ['CodeableConcept'] },
      { path: 'Narrative.div', types: ['xhtml'] },
    ]);
  });

  it('fails the build on a profile without a snapshot', () => {
    // Act
    const act = (): unknown =>
      extractRequiredElements([
        {
          entry: [{ resource: { ...structureDefinition('Flag', {}, []).resource, snapshot: {} } }],
        },
      ]);

    // Assess
    expect(act).toThrow('Flag has no snapshot');
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
