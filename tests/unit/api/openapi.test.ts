import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '../../../lib/api/openapi.ts';
import { ROUTES, type Route, type RouteName } from '../../../lib/api/routes.ts';
import {
  ConfigError,
  InputValidationError,
  InternalError,
  TransientDatabaseError,
  UnauthorizedError,
} from '../../../lib/errors.ts';
import { BIRTH_DATE_FORMAT, patientRecordSchema } from '../../../lib/fhir/flatSchema.ts';
import { problemResponse } from '../../../lib/http/problem.ts';
import { classifyBatch } from '../../../lib/pipeline/envelopes.ts';

// ajv-formats is CommonJS: Node's default import is module.exports, and its `default` is the plugin.
const addFormats = addFormatsModule.default;

type JsonObject = Record<string, unknown>;

const MAX_RECORDS = 3;
const DOCUMENT_ID = 'https://healthcare-etl.example/openapi.json';
const document = buildOpenApiDocument({ maxRecordsPerBatch: MAX_RECORDS });
const RUN_ID = '3f1c2a9e-8b7d-4c6e-9a5f-0d1e2f3a4b5c';

function objectAt(value: unknown, ...keys: string[]): JsonObject {
  let current: unknown = value;
  for (const key of keys) {
    if (typeof current !== 'object' || current === null) throw new Error(`no ${keys.join('.')}`);
    current = (current as JsonObject)[key];
  }
  if (typeof current !== 'object' || current === null) throw new Error(`no ${keys.join('.')}`);
  return current as JsonObject;
}

const components = objectAt(document, 'components');
const schemas = objectAt(components, 'schemas');

/** Every `$ref` string anywhere in the document. */
function refsIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(refsIn);
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, child]) =>
    key === '$ref' && typeof child === 'string' ? [child] : refsIn(child),
  );
}

/** What a local reference (`#/a/b`) points at, or undefined. */
function resolvePointer(reference: string): unknown {
  if (!reference.startsWith('#/')) return undefined;
  let current: unknown = document;
  for (const token of reference.slice(2).split('/')) {
    const key = token.replaceAll('~1', '/').replaceAll('~0', '~');
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, key)) {
      return undefined;
    }
    current = (current as JsonObject)[key];
  }
  return current;
}

/** A response object, following one `$ref` into components/responses. */
function dereference(response: unknown): JsonObject {
  const { $ref } = response as { $ref?: string };
  return ($ref === undefined ? response : resolvePointer($ref)) as JsonObject;
}

function createAjv(): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addFormat(BIRTH_DATE_FORMAT, true);
  // Component schemas refer to each other as `#/components/schemas/...`: give them that root.
  ajv.addSchema({ $id: DOCUMENT_ID, components: { schemas } });
  return ajv;
}

function validatorFor(ajv: Ajv2020, name: string) {
  return ajv.compile({ $ref: `${DOCUMENT_ID}#/components/schemas/${name}` });
}

describe('buildOpenApiDocument: the document', () => {
  it('is OpenAPI 3.1.0 in the 2020-12 dialect', () => {
    // Assess
    expect(document['openapi']).toBe('3.1.0');
    expect(document['jsonSchemaDialect']).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(objectAt(document, 'info')).toMatchObject({ version: expect.any(String) });
  });

  it('names a server only when given one', () => {
    // Act
    const withServer = buildOpenApiDocument({
      serverUrl: 'https://api.example.test',
      maxRecordsPerBatch: MAX_RECORDS,
    });

    // Assess
    expect(withServer['servers']).toStrictEqual([{ url: 'https://api.example.test' }]);
    expect(document).not.toHaveProperty('servers');
  });

  it.each([0, -1, 1.5])('refuses a batch limit of %s', (maxRecordsPerBatch) => {
    // Act
    const build = () => buildOpenApiDocument({ maxRecordsPerBatch });

    // Assess
    expect(build).toThrow(ConfigError);
  });

  it('resolves every $ref to something in its components', () => {
    // Act
    const refs = refsIn(document);

    // Assess
    expect(refs.length).toBeGreaterThan(20);
    for (const reference of refs) {
      expect(reference).toMatch(/^#\/components\/(schemas|responses|parameters|headers)\/\w+$/);
      expect(resolvePointer(reference), reference).toBeDefined();
    }
  });

  it('survives a JSON round trip unchanged', () => {
    // Act
    const copy: unknown = JSON.parse(JSON.stringify(document));

    // Assess
    expect(copy).toStrictEqual(document);
  });
});

describe('buildOpenApiDocument: component schemas', () => {
  const ajv = createAjv();

  it.each(Object.keys(schemas))('%s compiles under JSON Schema 2020-12', (name) => {
    // Act
    const compile = () => validatorFor(ajv, name);

    // Assess
    expect(compile).not.toThrow();
  });

  it('embeds patientRecordSchema itself, less its $id', () => {
    // Prepare
    const expected = Object.fromEntries(
      Object.entries(patientRecordSchema).filter(([keyword]) => keyword !== '$id'),
    );

    // Assess
    expect(schemas['PatientRecord']).toStrictEqual(expected);
    expect(objectAt(schemas, 'PatientRecord', 'properties')).toBe(patientRecordSchema.properties);
  });

  it('points the envelope’s records at PatientRecord and applies the batch limit', () => {
    // Assess
    expect(objectAt(schemas, 'FlatEnvelope', 'properties', 'records')).toStrictEqual({
      type: 'array',
      minItems: 1,
      maxItems: MAX_RECORDS,
      items: { $ref: '#/components/schemas/PatientRecord' },
    });
    expect(objectAt(schemas, 'FlatEnvelope')).not.toHaveProperty('$id');
  });

  it.each<[string, unknown, boolean]>([
    [
      'the design’s example batch',
      {
        records: [
          {
            resourceType: 'Patient',
            mrn: 'MRN-001',
            name: 'Jane Doe',
            birthDate: '1990-01-15',
            gender: 'female',
            ssn: '123-45-6789',
            consent: { data_sharing: true, research: false },
          },
        ],
      },
      true,
    ],
    ['an empty batch', { records: [] }, false],
    [
      'a batch over the limit',
      { records: Array(MAX_RECORDS + 1).fill({ resourceType: 'Patient', mrn: 'M' }) },
      false,
    ],
    ['a record without an MRN', { records: [{ resourceType: 'Patient' }] }, false],
  ])('FlatEnvelope judges %s (valid: %s)', (_, batch, valid) => {
    // Prepare
    const validate = validatorFor(ajv, 'FlatEnvelope');

    // Act
    const result = validate(batch);

    // Assess
    expect(result).toBe(valid);
  });

  const entry = { fullUrl: 'urn:uuid:1', resource: { resourceType: 'Patient' } };
  it.each<[string, unknown]>([
    ['a collection Bundle', { resourceType: 'Bundle', type: 'collection', entry: [entry] }],
    ['a transaction Bundle', { resourceType: 'Bundle', type: 'transaction', entry: [entry] }],
    ['a searchset Bundle', { resourceType: 'Bundle', type: 'searchset', entry: [entry] }],
    ['a Bundle without entries', { resourceType: 'Bundle', type: 'batch', entry: [] }],
    [
      'a Bundle over the limit',
      { resourceType: 'Bundle', type: 'batch', entry: Array(MAX_RECORDS + 1).fill(entry) },
    ],
    ['a Patient', { resourceType: 'Patient' }],
  ])('IngestBundle judges %s as intake does', (_, body) => {
    // Prepare
    const validate = validatorFor(ajv, 'IngestBundle');
    let accepted: boolean;
    try {
      classifyBatch(JSON.stringify(body), 'application/fhir+json', MAX_RECORDS);
      accepted = true;
    } catch {
      accepted = false;
    }

    // Act
    const result = validate(body);

    // Assess
    expect(result).toBe(accepted);
  });

  it.each<[string, unknown]>([
    [
      'a validation failure',
      new InputValidationError('bad', [
        { path: '/records', keyword: 'minItems', message: 'must not be empty' },
      ]),
    ],
    ['an authentication failure', new UnauthorizedError('a bearer token is required')],
    ['an internal error', new InternalError('boom')],
  ])('Problem describes the body problemResponse writes for %s', (_, error) => {
    // Prepare
    const validate = validatorFor(ajv, 'Problem');

    // Act
    const valid = validate(JSON.parse(problemResponse(error, 'corr-0001').body ?? ''));

    // Assess
    expect(validate.errors ?? []).toStrictEqual([]);
    expect(valid).toBe(true);
  });

  it.each<[string, unknown]>([
    [
      'a validation failure',
      new InputValidationError('bad', [
        { path: '/_count', keyword: 'maximum', message: 'must be at most 1000' },
      ]),
    ],
    ['an authentication failure', new UnauthorizedError('a bearer token is required')],
    ['an internal error', new InternalError('boom')],
  ])('OperationOutcome describes the body a FHIR route writes for %s', (_, error) => {
    // Prepare
    const validate = validatorFor(ajv, 'OperationOutcome');

    // Act
    const response = problemResponse(error, 'corr-0001', 'operation-outcome');
    const valid = validate(JSON.parse(response.body ?? ''));

    // Assess
    expect(validate.errors ?? []).toStrictEqual([]);
    expect(valid).toBe(true);
  });

  it.each<[string, unknown]>([
    [
      'IngestAccepted',
      {
        runId: RUN_ID,
        status: 'queued',
        outcome: 'accepted',
        links: { self: `/api/v1/runs/${RUN_ID}` },
      },
    ],
    [
      'Run',
      {
        runId: RUN_ID,
        status: 'succeeded',
        currentStage: 'load',
        counts: { received: 3, rejected: 1 },
        stageTimings: { extract: 12.5, load: 40 },
        errorCode: null,
        createdAt: '2030-01-01T00:00:00.000Z',
        finishedAt: '2030-01-01T00:00:01.000Z',
      },
    ],
    [
      'RejectionList',
      {
        data: [
          {
            recordIndex: 2,
            resourceType: 'Patient',
            reason: 'schema',
            details: { problems: [{ path: '/mrn', keyword: 'required' }] },
            stage: 'validate',
          },
        ],
      },
    ],
    [
      'PatientSearchResult',
      {
        data: [
          {
            id: RUN_ID,
            mrn: 'MRN-001',
            name: 'Jane Doe',
            birthDate: '1990-01-15',
            gender: 'female',
            ssn: null,
            consent: { dataSharing: true, research: false, recordedAt: '2030-01-01T00:00:00Z' },
          },
        ],
      },
    ],
    ['Health', { status: 'ok' }],
  ])('%s accepts a typical value', (name, value) => {
    // Prepare
    const validate = validatorFor(ajv, name);

    // Act
    const valid = validate(value);

    // Assess
    expect(validate.errors ?? []).toStrictEqual([]);
    expect(valid).toBe(true);
  });

  it.each<[string, unknown]>([
    ['Run', { runId: RUN_ID, status: 'paused' }],
    ['Rejection', { recordIndex: 0, resourceType: null, reason: 'typo', details: {}, stage: 'x' }],
    ['Patient', { id: RUN_ID, mrn: 'M', consent: { dataSharing: true } }],
  ])('%s refuses a malformed value', (name, value) => {
    // Prepare
    const validate = validatorFor(ajv, name);

    // Act
    const valid = validate(value);

    // Assess
    expect(valid).toBe(false);
  });
});

describe('buildOpenApiDocument: paths', () => {
  const paths = objectAt(document, 'paths');
  const documented = Object.entries<Route>(ROUTES).filter(
    ([, route]) => route.operation !== undefined,
  );
  const authenticatedErrors = ['401', '403', '429', '500', '503'];
  /** What each route documents beyond its success and, when authenticated, those errors. */
  const statuses: Partial<Record<RouteName, readonly string[]>> = {
    ingestBatch: ['202', '400', '413', '415', '422'],
    redriveRun: ['202', '404', '409'],
    changeConsent: ['200', '400', '404', '409'],
    listAudit: ['200', '400'],
    verifyAudit: ['200'],
    getRun: ['200', '400', '404'],
    listRunRejections: ['200', '400', '404'],
    getPatient: ['200', '404'],
    searchPatients: ['200', '400'],
    readFhirPatient: ['200', '404'],
    searchFhirObservations: ['200', '400', '404'],
    getHealth: ['200'],
    getOpenApiDocument: ['200'],
    getApiDocs: ['200'],
  };

  it.each(documented)('%s has its route’s security and its responses', (name, route) => {
    // Prepare
    const security =
      route.anyOf === 'public' ? [] : route.anyOf.map((scope) => ({ bearer: [scope] }));
    const expected = [
      ...(statuses[name as RouteName] ?? []),
      ...(route.anyOf === 'public' ? [] : authenticatedErrors),
    ];

    // Act
    const operation = objectAt(paths, route.path, route.method.toLowerCase());

    // Assess
    expect(operation['security']).toStrictEqual(security);
    expect(operation['operationId']).toBe(name);
    expect(operation['operationId']).toMatch(/^[a-z][A-Za-z0-9]*$/);
    expect(Object.keys(objectAt(operation, 'responses'))).toEqual(expect.arrayContaining(expected));
  });

  it('documents every route with an operation, and nothing else', () => {
    // Act
    const operations = Object.entries(paths).flatMap(([path, item]) =>
      Object.keys(item as JsonObject).map((method) => `${method.toUpperCase()} ${path}`),
    );

    // Assess
    expect(operations.sort()).toStrictEqual(
      documented.map(([, route]) => `${route.method} ${route.path}`).sort(),
    );
    expect(documented.length).toBeGreaterThanOrEqual(14);
  });

  it('gives every operation a distinct operationId', () => {
    // Prepare
    const operations = Object.values(paths).flatMap((item) => Object.values(item as JsonObject));

    // Act
    const ids = operations.map((operation) => (operation as JsonObject)['operationId']);

    // Assess
    expect(ids).toHaveLength(documented.length);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it.each([
    ['problem+json', 'application/problem+json', 'Problem'],
    ['operation-outcome', 'application/fhir+json', 'OperationOutcome'],
  ])(
    'answers every error of the %s routes with %s and the %s schema',
    (format, mediaType, schema) => {
      // Prepare
      const responses = documented
        .filter(([, route]) => route.errors === format)
        .flatMap(([, route]) =>
          Object.entries(objectAt(paths, route.path, route.method.toLowerCase(), 'responses')),
        );
      const errors = responses.filter(([status]) => Number(status) >= 400);

      // Assess
      expect(errors.length).toBeGreaterThan(format === 'operation-outcome' ? 10 : 20);
      for (const [status, response] of errors) {
        const content = objectAt(dereference(response), 'content');
        expect(Object.keys(content), status).toStrictEqual([mediaType]);
        expect(objectAt(content, mediaType, 'schema')).toStrictEqual({
          $ref: `#/components/schemas/${schema}`,
        });
      }
    },
  );

  it('sends Retry-After with every 503 and 429 it documents, as problemResponse does', () => {
    // Prepare
    const retried = Object.values(paths).flatMap((item) =>
      Object.values(item as JsonObject).flatMap((operation) =>
        Object.entries(objectAt(operation, 'responses')).filter(([status]) =>
          ['429', '503'].includes(status),
        ),
      ),
    );

    // Act
    const headers = retried.map(([, response]) => objectAt(dereference(response), 'headers'));

    // Assess
    expect(retried.length).toBeGreaterThanOrEqual(20);
    for (const header of headers) {
      expect(header['Retry-After']).toStrictEqual({ $ref: '#/components/headers/RetryAfter' });
    }
    expect(
      problemResponse(new TransientDatabaseError('connection lost'), 'corr-0001').headers,
    ).toHaveProperty('retry-after');
  });

  it('answers the FHIR routes with application/fhir+json resources', () => {
    // Act
    const patient = objectAt(paths, '/fhir/r4/Patient/{id}', 'get', 'responses', '200');
    const search = objectAt(paths, '/fhir/r4/Observation', 'get', 'responses', '200');

    // Assess
    expect(objectAt(patient, 'content', 'application/fhir+json', 'schema')).toStrictEqual({
      $ref: '#/components/schemas/FhirPatient',
    });
    expect(objectAt(search, 'content', 'application/fhir+json', 'schema')).toStrictEqual({
      $ref: '#/components/schemas/FhirObservationSearchset',
    });
  });

  it('takes the flat envelope, a FHIR Bundle or NDJSON and answers 202 with a Location header', () => {
    // Act
    const operation = objectAt(paths, '/api/v1/ingest', 'post');

    // Assess
    expect(objectAt(operation, 'requestBody')).toMatchObject({
      required: true,
      content: {
        'application/json': {
          schema: {
            oneOf: [
              { $ref: '#/components/schemas/FlatEnvelope' },
              { $ref: '#/components/schemas/IngestBundle' },
            ],
          },
        },
        'application/fhir+json': { schema: { $ref: '#/components/schemas/IngestBundle' } },
        'application/fhir+ndjson': { schema: { type: 'string' } },
      },
    });
    const accepted = objectAt(operation, 'responses', '202');
    expect(objectAt(accepted, 'headers')).toHaveProperty('Location');
    expect(objectAt(accepted, 'content', 'application/json', 'schema')).toStrictEqual({
      $ref: '#/components/schemas/IngestAccepted',
    });
  });

  it('describes the bearer scheme with the SMART scopes it uses', () => {
    // Act
    const bearer = objectAt(components, 'securitySchemes', 'bearer');

    // Assess
    expect(bearer).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    expect(bearer['description']).toContain('system/Patient.c');
    expect(bearer['description']).toContain('user/Patient.r');
  });
});
