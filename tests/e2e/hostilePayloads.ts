/**
 * Hostile request bodies for POST /api/v1/ingest, as fast-check arbitraries: arbitrary JSON,
 * flat records mutated with wrong types, huge strings, deep nesting, unicode edge cases and
 * prototype-pollution keys, duplicate MRNs, and bodies that are not JSON at all.
 */
import fc from 'fast-check';
import { consentFor, syntheaResources } from '../helpers/fhir.ts';

export const SQL_INJECTIONS = [
  "'; DROP TABLE patients; --",
  '" OR 1=1 --',
  '1; SELECT pg_sleep(5)',
  "\\'; DELETE FROM audit_log; --",
  '$$; TRUNCATE consents; $$',
] as const;

/** A request body the fuzzer sends, with what it was generated as (for the failure report). */
export interface Payload {
  readonly kind: string;
  readonly body: string | Buffer;
  readonly contentType: string | undefined;
}

/** A JSON value as raw text, so keys like `__proto__` and repeated keys survive serialisation. */
type JsonText = string;

function objectText(entries: ReadonlyArray<readonly [string, JsonText]>): JsonText {
  return `{${entries.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(',')}}`;
}

const prototypeKey = fc.constantFrom('__proto__', 'constructor', 'prototype');

const unicodeEdgeCase = fc.constantFrom(
  '\uD800',
  'x\uDC00y',
  '\uDBFF\uDBFF',
  '\u0000',
  'Ann\u0000e',
  '\u202Eenaj\u202C',
  '\u200F\u200E',
  '😀',
  '👩🏽‍⚕️',
  '\uFEFF',
  'e\u0301\u0301\u0301',
  '\u2028\u2029',
  '\uFFFF',
  '\u{10FFFF}',
);

/** Up to ~100 KB of one repeated unit (ASCII, accented, astral, NUL or space). */
const hugeString = fc
  .tuple(fc.integer({ min: 201, max: 100_000 }), fc.constantFrom('x', 'é', '😀', '\u0000', ' '))
  .map(([length, unit]) => unit.repeat(Math.ceil(length / unit.length)));

/** Arrays or objects nested 1 to 100 levels (the API refuses more than 64). */
const deepValue = fc
  .tuple(fc.integer({ min: 1, max: 100 }), fc.boolean())
  .map(([depth, asArray]) =>
    asArray
      ? `${'['.repeat(depth)}1${']'.repeat(depth)}`
      : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
  );

const wrongType = fc.oneof(
  fc.integer().map(String),
  fc.double().map((value) => JSON.stringify(value)),
  fc.boolean().map(String),
  fc.constant('null'),
  fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
);

const hostileValue: fc.Arbitrary<JsonText> = fc.oneof(
  { arbitrary: wrongType, weight: 4 },
  { arbitrary: hugeString.map((value) => JSON.stringify(value)), weight: 1 },
  { arbitrary: deepValue, weight: 2 },
  { arbitrary: unicodeEdgeCase.map((value) => JSON.stringify(value)), weight: 3 },
  {
    arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map((v) => JSON.stringify(v)),
    weight: 2,
  },
  {
    arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }).map((v) => JSON.stringify(v)),
    weight: 2,
  },
  {
    arbitrary: fc.constantFrom(...SQL_INJECTIONS).map((value) => JSON.stringify(value)),
    weight: 1,
  },
  {
    arbitrary: fc
      .tuple(prototypeKey, fc.jsonValue({ maxDepth: 2 }))
      .map(([key, value]) => objectText([[key, JSON.stringify(value)]])),
    weight: 2,
  },
);

const RECORD_FIELDS = ['resourceType', 'mrn', 'name', 'birthDate', 'gender', 'ssn', 'consent'];

const mutation = fc.oneof(
  fc.record({
    op: fc.constant('set' as const),
    key: fc.constantFrom(...RECORD_FIELDS),
    value: hostileValue,
  }),
  fc.record({
    op: fc.constant('add' as const),
    key: fc.oneof(prototypeKey, fc.string({ maxLength: 8 })),
    value: hostileValue,
  }),
  fc.record({ op: fc.constant('delete' as const), key: fc.constantFrom(...RECORD_FIELDS) }),
  fc.record({
    op: fc.constant('repeat' as const),
    key: fc.constantFrom(...RECORD_FIELDS),
    value: hostileValue,
  }),
  fc.record({
    op: fc.constant('consent' as const),
    key: fc.oneof(prototypeKey, fc.constant('data_sharing'), unicodeEdgeCase),
    value: fc.oneof(fc.constant('true'), fc.constant('false'), hostileValue),
  }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutatedRecord(
  mrn: string,
  dataSharing: boolean,
  mutations: readonly Mutation[],
): JsonText {
  let entries: Array<readonly [string, JsonText]> = [
    ['resourceType', '"Patient"'],
    ['mrn', JSON.stringify(mrn)],
    ['name', '"Fuzz Patient"'],
    ['birthDate', '"1980-06-15"'],
    ['gender', '"unknown"'],
    ['ssn', '"999-12-3456"'],
    ['consent', objectText([['data_sharing', String(dataSharing)]])],
  ];
  for (const change of mutations) {
    if (change.op === 'delete') entries = entries.filter(([key]) => key !== change.key);
    else if (change.op === 'set')
      entries = entries.map(([key, value]) => [key, key === change.key ? change.value : value]);
    else if (change.op === 'consent')
      entries = entries.map(([key, value]) => [
        key,
        key === 'consent'
          ? objectText([
              [change.key, change.value],
              ['data_sharing', String(dataSharing)],
            ])
          : value,
      ]);
    else entries.push([change.key, change.value]);
  }
  return objectText(entries);
}

const fuzzMrn = fc.integer({ min: 0, max: 999_999 }).map((n) => `FUZZ-${n}`);

const flatRecord = fc
  .tuple(fuzzMrn, fc.boolean(), fc.array(mutation, { maxLength: 4 }))
  .map(([mrn, dataSharing, mutations]) => mutatedRecord(mrn, dataSharing, mutations));

const APPLICATION_JSON = 'application/json';
const FHIR_JSON = 'application/fhir+json';
const FHIR_NDJSON = 'application/fhir+ndjson';

/**
 * Synthea Patients and Observations under fuzz-only ids and MRNs, so what the fuzzer loads
 * never collides with the patients other suites load from the same files.
 */
function fuzzCopy(resource: Record<string, unknown>, n: number): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...resource, id: `fuzz-${n}` };
  if (Array.isArray(resource['identifier'])) {
    copy['identifier'] = resource['identifier'].map((identifier: Record<string, unknown>) => ({
      ...identifier,
      value: `FUZZ-FHIR-${n}-${String(identifier['value']).slice(0, 8)}`,
    }));
  }
  if (resource['subject'] !== undefined) copy['subject'] = { reference: `Patient/fuzz-${n % 13}` };
  return copy;
}

const FHIR_PATIENTS = syntheaResources('Patient.10.ndjson').map(fuzzCopy);
const FHIR_OBSERVATIONS = syntheaResources('Observation.sample.ndjson').map((resource, n) =>
  fuzzCopy(resource, 100 + n),
);
const FHIR_FIELDS = ['resourceType', 'id', 'identifier', 'name', 'birthDate', 'gender', 'subject'];

const fhirResource: fc.Arbitrary<JsonText> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...FHIR_PATIENTS).map((value) => JSON.stringify(value)) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...FHIR_PATIENTS, ...FHIR_OBSERVATIONS),
        fc.oneof(fc.constantFrom(...FHIR_FIELDS), prototypeKey),
        hostileValue,
      )
      .map(([resource, key, value]) => {
        const entries = Object.entries(resource)
          .filter(([name]) => name !== key)
          .map(([name, field]): readonly [string, JsonText] => [name, JSON.stringify(field)]);
        return objectText([...entries, [key, value]]);
      }),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(...FHIR_OBSERVATIONS).map((value) => JSON.stringify(value)),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.integer({ min: 0, max: 15 }),
        fc.constantFrom('permit', 'deny') as fc.Arbitrary<'permit' | 'deny'>,
        fc.constantFrom('active', 'inactive', 'draft', 'rejected'),
      )
      .map(([n, provision, status]) =>
        JSON.stringify(consentFor(`Patient/fuzz-${n}`, { provision, status })),
      ),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      'not json',
      '{"resourceType":"Immunization","status":"completed"}',
      '{"resourceType":"Bundle","type":"collection","entry":[]}',
      '{"resourceType":"Patient"',
    ),
  },
);

export const hostilePayload: fc.Arbitrary<Payload> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.jsonValue().map((value) => ({
      kind: 'json value',
      body: JSON.stringify(value),
      contentType: APPLICATION_JSON,
    })),
  },
  {
    weight: 5,
    arbitrary: fc.array(flatRecord, { minLength: 1, maxLength: 8 }).map((records) => ({
      kind: 'mutated records',
      body: `{"records":[${records.join(',')}]}`,
      contentType: APPLICATION_JSON,
    })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fuzzMrn, fc.integer({ min: 2, max: 6 }), fc.array(mutation, { maxLength: 2 }))
      .map(([mrn, copies, mutations]) => ({
        kind: 'duplicate MRNs in one batch',
        body: `{"records":[${Array.from({ length: copies }, () => mutatedRecord(mrn, true, mutations)).join(',')}]}`,
        contentType: APPLICATION_JSON,
      })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.oneof(prototypeKey, fc.constant('records')), hostileValue, flatRecord)
      .map(([key, value, record]) => ({
        kind: 'hostile envelope',
        body: objectText([
          ['records', `[${record}]`],
          [key, value],
        ]),
        contentType: APPLICATION_JSON,
      })),
  },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.constantFrom(
          '{"records": [',
          'NaN',
          "{'records': []}",
          '{"records":[{"mrn":"x",}]}',
          '\u0000',
          'undefined',
        ),
        flatRecord.map((record) => `{"records":[${record}`),
      )
      .map((body) => ({ kind: 'not JSON', body, contentType: APPLICATION_JSON })),
  },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ minLength: 1, maxLength: 300 }).map((bytes) => ({
      kind: 'raw bytes',
      body: Buffer.from(bytes),
      contentType: APPLICATION_JSON,
    })),
  },
  {
    weight: 3,
    arbitrary: fc.array(fhirResource, { minLength: 1, maxLength: 12 }).map((lines) => ({
      kind: 'FHIR NDJSON',
      body: lines.join('\n'),
      contentType: FHIR_NDJSON,
    })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom('collection', 'batch', 'transaction', 'searchset', 'document'),
        fc.array(fc.tuple(fc.option(fc.uuid()), fhirResource), { minLength: 0, maxLength: 10 }),
        fc.constantFrom(FHIR_JSON, APPLICATION_JSON),
      )
      .map(([type, entries, contentType]) => ({
        kind: 'FHIR Bundle',
        body: objectText([
          ['resourceType', '"Bundle"'],
          ['type', JSON.stringify(type)],
          [
            'entry',
            `[${entries
              .map(([uuid, resource]) =>
                objectText([
                  ...(uuid === null
                    ? []
                    : [['fullUrl', JSON.stringify(`urn:uuid:${uuid}`)] as const]),
                  ['resource', resource === '' ? 'null' : resource],
                ]),
              )
              .join(',')}]`,
          ],
        ]),
        contentType,
      })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        flatRecord,
        fc.constantFrom('text/plain', 'application/json; charset=latin1', undefined),
      )
      .map(([record, contentType]) => ({
        kind: 'wrong media type',
        body: `{"records":[${record}]}`,
        contentType,
      })),
  },
);
