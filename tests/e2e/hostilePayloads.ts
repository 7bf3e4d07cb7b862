/**
 * Hostile request bodies for POST /api/v1/ingest, as fast-check arbitraries: arbitrary JSON,
 * flat records mutated with wrong types, huge strings, deep nesting, unicode edge cases and
 * prototype-pollution keys, duplicate MRNs, bodies that are not JSON at all, and FHIR NDJSON and
 * Bundles of every stored type (patient data and shared) with hostile values, dates, attachments
 * and references of every shape, nested Bundles and the types the pipeline refuses.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import {
  consentFor,
  EXPORT_10,
  type FhirJson,
  MR_TYPE,
  mrnOf,
  syntheaResources,
} from '../helpers/fhir.ts';

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

/** Consents about `Patient/fuzz-0` to `fuzz-15`: the first 13 are FHIR_PATIENTS, the rest never sent. */
const FUZZ_PATIENTS = 16;

const fuzzConsent: fc.Arbitrary<JsonText> = fc
  .tuple(
    fc.integer({ min: 0, max: FUZZ_PATIENTS - 1 }),
    fc.constantFrom('permit', 'deny') as fc.Arbitrary<'permit' | 'deny'>,
    fc.constantFrom('active', 'inactive', 'draft', 'rejected'),
  )
  .map(([n, provision, status]) =>
    JSON.stringify(consentFor(`Patient/fuzz-${n}`, { provision, status })),
  );

/** The types of the 10-patient export besides Patient: patient data and shared alike. */
const EXPORT_TYPES = [
  'AllergyIntolerance',
  'Condition',
  'Device',
  'DocumentReference',
  'Encounter',
  'Immunization',
  'Location',
  'MedicationRequest',
  'Organization',
  'Practitioner',
  'PractitionerRole',
  'Procedure',
] as const;
const TEMPLATES_PER_TYPE = 3;

type Path = ReadonlyArray<string | number>;

/** A Synthea resource the fuzzer copies, with where its leaves, references and dates are. */
interface Template {
  readonly resource: FhirJson;
  /** Its copies' id, `fuzz-<n>`. */
  readonly n: number;
  readonly leaves: readonly Path[];
  /** Each object holding a `reference`. */
  readonly references: readonly Path[];
  readonly dates: readonly Path[];
  readonly attachments: readonly Path[];
}

function pathsIn(value: unknown, at: Path = []): { path: Path; value: unknown }[] {
  const here = { path: at, value };
  if (Array.isArray(value)) return [here, ...value.flatMap((item, i) => pathsIn(item, [...at, i]))];
  if (typeof value === 'object' && value !== null) {
    return [here, ...Object.entries(value).flatMap(([key, field]) => pathsIn(field, [...at, key]))];
  }
  return [here];
}

function templateOf(resource: FhirJson, n: number): Template {
  const all = pathsIn(resource).filter(({ path }) => path.length > 0);
  const pathsWhere = (keep: (value: unknown, path: Path) => boolean) =>
    all.filter(({ value, path }) => keep(value, path)).map(({ path }) => path);
  return {
    resource,
    n,
    leaves: pathsWhere((value) => typeof value !== 'object' || value === null),
    references: pathsWhere(
      (value) => typeof value === 'object' && value !== null && 'reference' in value,
    ),
    dates: pathsWhere((value) => typeof value === 'string' && /^\d{4}-\d{2}-\d{2}/.test(value)),
    attachments: pathsWhere((_, path) => path.at(-1) === 'data' && path.includes('attachment')),
  };
}

/** The first few of each type of the export, and of the Observation sample (the export has none). */
const TEMPLATES: readonly Template[] = [
  ...EXPORT_TYPES.map((type) =>
    readFileSync(new URL(`${type}.000.ndjson`, EXPORT_10), 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as FhirJson),
  ),
  syntheaResources('Observation.sample.ndjson'),
].flatMap((resources, t) =>
  resources
    .slice(0, TEMPLATES_PER_TYPE)
    .map((resource, i) => templateOf(resource, 300 + t * TEMPLATES_PER_TYPE + i)),
);

/**
 * The export's references in a copy: patients to `patient`, other literal ones and conditional
 * ones to fuzz-only ids and identifier values, so that copies name each other and nothing else.
 */
function fuzzReference(reference: string, patient: string): string {
  if (reference.startsWith('Patient/')) return patient;
  const conditional = /^([A-Za-z]+)\?identifier=([^|]*)\|(.*)$/.exec(reference);
  if (conditional !== null) {
    return `${conditional[1]}?identifier=${conditional[2]}|FUZZ-${conditional[3]}`;
  }
  const literal = /^([A-Za-z]+)\/(.+)$/.exec(reference);
  return literal === null ? reference : `${literal[1]}/fuzz-${literal[2]}`;
}

/** A template's copy under its fuzz-only id and identifier values, about `patient`. */
function fuzzResource({ resource, n }: Template, patient: string): FhirJson {
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (typeof value !== 'object' || value === null) return value;
    return Object.fromEntries(
      Object.entries(value).map(([key, field]) => [
        key,
        key === 'reference' && typeof field === 'string'
          ? fuzzReference(field, patient)
          : rewrite(field),
      ]),
    );
  };
  const copy = rewrite(resource) as FhirJson;
  copy.id = `fuzz-${n}`;
  if (Array.isArray(copy['identifier'])) {
    copy['identifier'] = copy['identifier'].map((identifier: Record<string, unknown>) => ({
      ...identifier,
      value: `FUZZ-${String(identifier['value'])}`,
    }));
  }
  return copy;
}

const SPLICE = '\u0000fuzz-splice\u0000';

/** The resource as JSON text with the raw `value` at `path` (replaced, or added as a key). */
function withValueAt(resource: FhirJson, path: Path, value: JsonText): JsonText {
  const copy = structuredClone(resource) as Record<string | number, unknown>;
  let parent = copy;
  for (const step of path.slice(0, -1)) parent = parent[step] as Record<string | number, unknown>;
  parent[path.at(-1) as string | number] = SPLICE;
  return JSON.stringify(copy).replace(JSON.stringify(SPLICE), () => value);
}

const badDate = fc.constantFrom(
  '2020-02-30',
  '2021-02-29',
  '2020-13-01',
  '2020-00-10',
  '0000-01-01',
  '2020-1-1',
  '20200101',
  '2020-01-01T25:00:00Z',
  '2020-01-01T00:60:00Z',
  '2020-01-01T00:00:00',
  '2020-01-01T00:00:00+24:00',
  '2020-01-01 00:00:00Z',
  '99999-01-01',
  '-2020-01-01',
  '',
  'yesterday',
  '2020-W01',
  // Valid R4, at the edges of what an instant can hold:
  '2016-12-31T23:59:60Z',
  '9999-12-31T23:59:59.999-12:00',
  '0001-01-01T00:00:00+14:00',
  '2020-01-01T00:00:00.123456789012Z',
  '1850',
  '2020-02',
);

/** Attachment data: not base64, base64url, padding and whitespace errors, and huge valid data. */
const badBase64 = fc.oneof(
  fc.constantFrom(
    'not base64!',
    '====',
    'YQ',
    'YQ=',
    'Y Q = =',
    '',
    'YWJj\nZGVm',
    '\u0000',
    '-_-_',
  ),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes).toString('base64url')),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes).toString('base64')),
  fc.integer({ min: 1_000, max: 150_000 }).map((length) => 'QUJD'.repeat(length / 4)),
);

const REFERENCED_TYPES = ['Patient', 'Practitioner', 'Organization', 'Location', 'Encounter'];

/** A reference's text: of every shape R4 has, and none it has. */
const referenceText: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 20 }).map((n) => `Patient/fuzz-${n}`) },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'Patient/x',
      'Patient/',
      'Patient',
      '/Patient/fuzz-1',
      'patient/fuzz-1',
      ' Patient/fuzz-1',
      'Patient/fuzz-1/_history/2',
      'Patient/fuzz-1?_format=json',
      'Patient/__proto__',
      'Patient/../../etc/passwd',
      'Patient?identifier=urn:test:mrn|FUZZ-FHIR-1',
      'Patient?identifier=a|b',
      'Patient?identifier=',
      'Patient?name=Fuzz&birthdate=1980',
      'Practitioner?identifier=a|b',
      'Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|FUZZ-9999974592',
      'Organization?identifier=|',
      'Encounter/fuzz-1',
      'Bundle/x',
      'Binary/x',
      '#contained',
      '#',
      'http://example.org/fhir/Patient/fuzz-1',
      'https://fhir.example.com/r4/Patient/fuzz-2/_history/1',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'urn:oid:1.2.840.113619',
      'urn:uuid:',
      'urn:uuid:not-a-uuid',
      '',
    ),
  },
  { weight: 2, arbitrary: fc.uuid().map((uuid) => `urn:uuid:${uuid}`) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(...REFERENCED_TYPES), fc.string({ maxLength: 20 }))
      .map(([type, id]) => `${type}/${id}`),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...REFERENCED_TYPES),
        fc.string({ maxLength: 12 }),
        fc.string({ maxLength: 12 }),
      )
      .map(([type, system, value]) => `${type}?identifier=${system}|${value}`),
  },
  { weight: 1, arbitrary: fc.webUrl({ withQueryParameters: true, withFragments: true }) },
  { weight: 1, arbitrary: fc.constantFrom(...SQL_INJECTIONS) },
  { weight: 1, arbitrary: unicodeEdgeCase },
  { weight: 1, arbitrary: hugeString },
);

/** A Reference element, or what stands where one should. */
const hostileReference: fc.Arbitrary<JsonText> = fc.oneof(
  { weight: 6, arbitrary: referenceText.map((reference) => JSON.stringify({ reference })) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(referenceText, fc.constantFrom('Patient', 'Practitioner', 'Group', 'x'), hostileValue)
      .map(([reference, type, display]) =>
        objectText([
          ['reference', JSON.stringify(reference)],
          ['type', JSON.stringify(type)],
          ['display', display],
        ]),
      ),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom('MR', 'SS', 'XX'),
        fc.oneof(
          fc.constantFrom(...FHIR_PATIENTS.map((patient) => mrnOf(patient as FhirJson))),
          fuzzMrn,
          fc.string({ maxLength: 20 }),
        ),
      )
      .map(([code, value]) =>
        JSON.stringify({
          identifier: { type: { coding: [{ ...MR_TYPE.coding[0], code }] }, value },
        }),
      ),
  },
  { weight: 1, arbitrary: hostileValue.map((value) => objectText([['reference', value]])) },
  { weight: 1, arbitrary: hostileValue },
  { weight: 1, arbitrary: referenceText.map((reference) => JSON.stringify(reference)) },
  { weight: 1, arbitrary: fc.constantFrom('{}', '[{"reference":"Patient/fuzz-1"}]') },
);

const resourceMutation = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('none' as const) }) },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant('leaf' as const), at: fc.nat(), value: hostileValue }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('reference' as const),
      at: fc.nat(),
      value: hostileReference,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('date' as const),
      at: fc.nat(),
      value: badDate.map((date) => JSON.stringify(date)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('attachment' as const),
      at: fc.nat(),
      value: badBase64.map((data) => JSON.stringify(data)),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('key' as const),
      key: fc.oneof(
        fc.constantFrom('subject', 'patient', 'status', 'code', 'note', 'meta', 'text', 'id'),
        fc.constantFrom('contained', 'extension', 'modifierExtension', 'language'),
        prototypeKey,
        fc.string({ maxLength: 8 }),
      ),
      value: hostileValue,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('resourceType' as const),
      value: fc
        .constantFrom('Patient', 'Observation', 'Consent', 'Bundle', 'Binary', 'condition', 'Basic')
        .map((type) => JSON.stringify(type)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('contained' as const),
      at: fc.nat(),
      reference: fc.constantFrom('#p1', '#', '#nobody', '#P1'),
    }),
  },
);
type ResourceMutation = typeof resourceMutation extends fc.Arbitrary<infer M> ? M : never;

/** A contained Patient, with an MRN of its own: data no consent of ours covers. */
const CONTAINED_PATIENT = {
  resourceType: 'Patient',
  id: 'p1',
  identifier: [{ type: MR_TYPE, value: 'FUZZ-CONTAINED' }],
  name: [{ family: 'Contained', given: ['Fuzz'] }],
};

function mutatedResource(template: Template, patient: string, change: ResourceMutation): JsonText {
  const copy = fuzzResource(template, patient);
  const pick = (paths: readonly Path[], at: number): Path | undefined => paths[at % paths.length];
  switch (change.op) {
    case 'none':
      return JSON.stringify(copy);
    case 'leaf':
      return withValueAt(copy, pick(template.leaves, change.at) ?? ['id'], change.value);
    case 'reference':
      return withValueAt(copy, pick(template.references, change.at) ?? ['subject'], change.value);
    case 'date':
      return withValueAt(copy, pick(template.dates, change.at) ?? ['date'], change.value);
    case 'attachment':
      return withValueAt(copy, pick(template.attachments, change.at) ?? ['data'], change.value);
    case 'key':
      return withValueAt(copy, [change.key], change.value);
    case 'resourceType':
      return withValueAt(copy, ['resourceType'], change.value);
    case 'contained':
      return withValueAt(
        { ...copy, contained: [CONTAINED_PATIENT] },
        pick(template.references, change.at) ?? ['subject'],
        JSON.stringify({ reference: change.reference }),
      );
  }
}

/** A resource of any stored type but Patient and Consent, about one of the fuzz patients. */
const exportResource: fc.Arbitrary<JsonText> = fc
  .tuple(
    fc.constantFrom(...TEMPLATES),
    fc.integer({ min: 0, max: FUZZ_PATIENTS - 1 }),
    resourceMutation,
  )
  .map(([template, n, change]) => mutatedResource(template, `Patient/fuzz-${n}`, change));

const BUNDLE_TYPES = ['collection', 'batch', 'transaction', 'searchset', 'document'] as const;

function bundleText(type: string, entries: ReadonlyArray<readonly [string | null, JsonText]>) {
  return objectText([
    ['resourceType', '"Bundle"'],
    ['type', JSON.stringify(type)],
    [
      'entry',
      `[${entries
        .map(([fullUrl, resource]) =>
          objectText([
            ...(fullUrl === null ? [] : [['fullUrl', JSON.stringify(fullUrl)] as const]),
            ['resource', resource === '' ? 'null' : resource],
          ]),
        )
        .join(',')}]`,
    ],
  ]);
}

/** A Bundle inside a Bundle, 1 to 6 deep: refused as a resource, whatever it holds. */
const nestedBundle: fc.Arbitrary<JsonText> = fc
  .tuple(
    fc.integer({ min: 1, max: 6 }),
    fc.array(exportResource, { maxLength: 3 }),
    fc.constantFrom(...BUNDLE_TYPES, 'batch-response'),
  )
  .map(([depth, resources, type]) => {
    let inner = bundleText(
      type,
      resources.map((resource) => [null, resource]),
    );
    for (let level = 1; level < depth; level += 1) inner = bundleText(type, [[null, inner]]);
    return inner;
  });

/** Binary, Parameters and OperationOutcome: refused as `unsupported-type`, with PHI inside. */
const refusedResource: fc.Arbitrary<JsonText> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('text/plain', 'application/pdf', 'application/fhir+json', 'x/'),
      badBase64,
      fc.integer({ min: 0, max: FUZZ_PATIENTS - 1 }),
    )
    .map(([contentType, data, n]) =>
      JSON.stringify({
        resourceType: 'Binary',
        id: `fuzz-binary-${n}`,
        contentType,
        securityContext: { reference: `Patient/fuzz-${n}` },
        data,
      }),
    ),
  fc.constantFrom(...FHIR_PATIENTS).map((patient) =>
    JSON.stringify({
      resourceType: 'Parameters',
      parameter: [{ name: 'resource', resource: patient }],
    }),
  ),
  fc.constant(
    JSON.stringify({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'processing', diagnostics: 'Patient/fuzz-1' }],
    }),
  ),
);

/** A line or entry of a batch about the export's types, with patients and consents among them. */
const exportRecord: fc.Arbitrary<JsonText> = fc.oneof(
  { weight: 10, arbitrary: exportResource },
  { weight: 2, arbitrary: fc.constantFrom(...FHIR_PATIENTS).map((value) => JSON.stringify(value)) },
  { weight: 2, arbitrary: fuzzConsent },
  { weight: 1, arbitrary: nestedBundle },
  { weight: 1, arbitrary: refusedResource },
);

/**
 * One patient's story in a Bundle: the Patient under a urn:uuid or absolute fullUrl, a permit,
 * a refusal or no Consent for it, and resources naming it by that fullUrl.
 */
const linkedBundle = fc
  .tuple(
    fc.uuid(),
    fc.boolean(),
    fc.constantFrom(...FHIR_PATIENTS),
    fc.constantFrom('permit', 'deny', 'none'),
    fc.array(fc.tuple(fc.constantFrom(...TEMPLATES), resourceMutation), {
      minLength: 1,
      maxLength: 10,
    }),
    fc.constantFrom(...BUNDLE_TYPES),
  )
  .map(([uuid, absolute, patient, consent, resources, type]) => {
    const fullUrl = absolute ? `https://fuzz.example/fhir/Patient/${uuid}` : `urn:uuid:${uuid}`;
    return bundleText(type, [
      [fullUrl, JSON.stringify(patient)],
      ...(consent === 'none'
        ? []
        : [[null, JSON.stringify(consentFor(fullUrl, { provision: consent }))] as const]),
      ...resources.map(
        ([template, change]) => [null, mutatedResource(template, fullUrl, change)] as const,
      ),
    ]);
  });

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
  { weight: 2, arbitrary: fuzzConsent },
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
        fc.constantFrom(...BUNDLE_TYPES),
        fc.array(fc.tuple(fc.option(fc.uuid()), fhirResource), { minLength: 0, maxLength: 10 }),
        fc.constantFrom(FHIR_JSON, APPLICATION_JSON),
      )
      .map(([type, entries, contentType]) => ({
        kind: 'FHIR Bundle',
        body: bundleText(
          type,
          entries.map(([uuid, resource]) => [uuid === null ? null : `urn:uuid:${uuid}`, resource]),
        ),
        contentType,
      })),
  },
  {
    weight: 4,
    arbitrary: fc.array(exportRecord, { minLength: 1, maxLength: 12 }).map((lines) => ({
      kind: 'FHIR NDJSON of every type',
      body: lines.join('\n'),
      contentType: FHIR_NDJSON,
    })),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...BUNDLE_TYPES),
        fc.array(fc.tuple(fc.option(fc.uuid()), exportRecord), { minLength: 0, maxLength: 10 }),
        fc.constantFrom(FHIR_JSON, APPLICATION_JSON),
      )
      .map(([type, entries, contentType]) => ({
        kind: 'FHIR Bundle of every type',
        body: bundleText(
          type,
          entries.map(([uuid, resource]) => [uuid === null ? null : `urn:uuid:${uuid}`, resource]),
        ),
        contentType,
      })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(linkedBundle, fc.constantFrom(FHIR_JSON, APPLICATION_JSON))
      .map(([body, contentType]) => ({
        kind: 'FHIR Bundle linked by fullUrl',
        body,
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
