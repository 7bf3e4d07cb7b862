import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { handler as getRun } from '../../../functions/api/getRun.ts';
import { handler as notFound } from '../../../functions/api/notFound.ts';
import { handler as readPatient } from '../../../functions/fhir/readPatient.ts';
import { EXAMPLE_CORRELATION_ID, EXAMPLE_RUN_ID } from '../../../lib/api/openapi/examples.ts';
import { buildOpenApiDocument } from '../../../lib/api/openapi.ts';
import { ROUTES, type Route, type RouteName } from '../../../lib/api/routes.ts';
import { runView } from '../../../lib/api/runViews.ts';
import type { IngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import {
  ConfigError,
  ConflictError,
  ForbiddenError,
  IdempotencyConflictError,
  InputValidationError,
  InternalError,
  NotFoundError,
  PayloadTooLargeError,
  RunNotFoundError,
  ServiceUnavailableError,
  TooManyRequestsError,
  TransientDatabaseError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
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
const RUN = {
  id: RUN_ID,
  status: 'running',
  currentStage: 'extract',
  format: 'flat',
  source: 'api',
  actor: 'system:submitter',
  dataKeyId: '0f2c8e1a-5b7d-4c3e-8a9f-1b2c3d4e5f60',
  counts: { received: 3, extracted: 3 },
  stageTimings: { extract: 12.5 },
  errorCode: null,
  createdAt: new Date('2030-01-01T00:00:00.000Z'),
  updatedAt: new Date('2030-01-01T00:00:00.000Z'),
  finishedAt: null,
  publishedAt: null,
  redrives: 0,
} satisfies IngestRun;
const SUCCEEDED_RUN = {
  ...RUN,
  status: 'succeeded',
  currentStage: 'load',
  counts: { received: 3, rejected: 1, loaded: 2 },
  stageTimings: { extract: 12.5, validate: 3, consentCheck: 4, transform: 5, load: 40 },
  finishedAt: new Date('2030-01-01T00:00:01.000Z'),
} satisfies IngestRun;
const FAILED_RUN = {
  ...RUN,
  status: 'failed',
  errorCode: 'database-unavailable',
  finishedAt: new Date('2030-01-01T00:00:01.000Z'),
} satisfies IngestRun;

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

/** One of each error a handler answers with, as lib/errors.ts defines them. */
const THROWN = [
  new InputValidationError('invalid', []),
  new UnauthorizedError('no token'),
  new ForbiddenError('no scope'),
  new NotFoundError('none'),
  new RunNotFoundError(RUN_ID),
  new PayloadTooLargeError('too large'),
  new UnsupportedMediaTypeError('media type'),
  new ConflictError('conflict'),
  new IdempotencyConflictError('key reused'),
  new TooManyRequestsError(1),
  new InternalError('failed'),
  new ServiceUnavailableError('down'),
];

type LambdaHandler = (
  event: unknown,
  context: unknown,
) => Promise<{ statusCode: number; headers: Record<string, string>; body: string }>;

const getRunHandler = getRun as unknown as LambdaHandler;
const readPatientHandler = readPatient as unknown as LambdaHandler;
const notFoundHandler = notFound as unknown as LambdaHandler;

const LAMBDA_CONTEXT = { awsRequestId: 'openapi-test', getRemainingTimeInMillis: () => 10_000 };

/** An API Gateway v2 event as the HTTP API sends it, carrying the examples' correlation id. */
function requestEvent(method: string, path: string, headers: Record<string, string>) {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { 'x-correlation-id': EXAMPLE_CORRELATION_ID, ...headers },
    requestContext: { http: { method, path, sourceIp: '192.0.2.1' }, requestId: 'openapi-test' },
    isBase64Encoded: false,
  };
}
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
  it('is OpenAPI 3.1.0 in its default dialect (JSON Schema 2020-12 with the OAS vocabulary)', () => {
    // Assess
    expect(document['openapi']).toBe('3.1.0');
    // Swagger UI refuses any jsonSchemaDialect, even the 2020-12 meta-schema; the default is what we use.
    expect(document).not.toHaveProperty('jsonSchemaDialect');
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
      expect(reference).toMatch(
        /^#\/components\/(schemas|responses|parameters|headers|examples)\/\w+$/,
      );
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
    ['Run (its example)', (objectAt(schemas, 'Run')['examples'] as unknown[])[0]],
    ['Run (running, as runView writes it)', runView(RUN, {})],
    ['Run (succeeded, as runView writes it)', runView(SUCCEEDED_RUN, { schema: 1 })],
    ['Run (failed, as runView writes it)', runView(FAILED_RUN, {})],
    [
      'RunPage',
      {
        data: [runView(SUCCEEDED_RUN, { schema: 1 }), runView(RUN, {})],
        links: { next: '/api/v1/runs?status=succeeded&cursor=MTg5MzQ1NjAwMDAwMDAwMC4z' },
      },
    ],
    ['RunPage (the last)', { data: [], links: { next: null } }],
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
    const validate = validatorFor(ajv, name.split(' ')[0] ?? name);

    // Act
    const valid = validate(value);

    // Assess
    expect(validate.errors ?? []).toStrictEqual([]);
    expect(valid).toBe(true);
  });

  it.each<[string, unknown]>([
    ['Run', { runId: RUN_ID, status: 'paused' }],
    ['Run', { ...runView(RUN, {}), rejectedByReason: { typo: 1 } }],
    ['Run', { ...runView(RUN, {}), currentStage: 'publish' }],
    ['RunPage', { data: [runView(RUN, {})] }],
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
    listRuns: ['200', '400'],
    getRun: ['200', '400', '404'],
    listRunRejections: ['200', '400', '404'],
    getPatient: ['200', '404'],
    searchPatients: ['200', '400'],
    readFhirPatient: ['200', '404'],
    searchFhirObservations: ['200', '400', '404'],
    getFhirMetadata: ['200'],
    readFhirResource: ['200', '404'],
    searchFhirResources: ['200', '400', '404'],
    readFhirPatientEverything: ['200', '400', '404'],
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

describe('buildOpenApiDocument: examples', () => {
  const ajv = createAjv();
  const paths = objectAt(document, 'paths');
  const mediaTypeOf = {
    'problem+json': 'application/problem+json',
    'operation-outcome': 'application/fhir+json',
  };

  /** Every error response an operation documents: route, status and the example it shows. */
  const errorResponses = Object.entries<Route>(ROUTES).flatMap(([name, route]) =>
    route.operation === undefined
      ? []
      : Object.entries(objectAt(paths, route.path, route.method.toLowerCase(), 'responses'))
          .filter(([status]) => Number(status) >= 400)
          .map(([status, response]) => ({
            name,
            status: Number(status),
            format: route.errors,
            example: objectAt(
              dereference(response),
              'content',
              mediaTypeOf[route.errors],
              'example',
            ),
          })),
  );

  it.each(errorResponses)(
    '$name shows for $status what problemResponse writes ($format) for an error of that status',
    ({ status, format, example }) => {
      // Prepare
      const validate = validatorFor(
        ajv,
        format === 'problem+json' ? 'Problem' : 'OperationOutcome',
      );
      const written = THROWN.map((error) => problemResponse(error, EXAMPLE_CORRELATION_ID, format))
        .filter((response) => response.statusCode === status)
        .map((response) => JSON.parse(response.body ?? ''));
      const shape: (body: JsonObject) => JsonObject =
        format === 'problem+json'
          ? ({ type, title, status }: JsonObject) => ({ type, title, status })
          : ({ issue }: JsonObject) => ({ code: (issue as JsonObject[])[0]?.['code'] });

      // Assess
      expect(validate(example), JSON.stringify(validate.errors)).toBe(true);
      expect(written.length, `nothing answers ${status}`).toBeGreaterThan(0);
      expect(written.map(shape)).toContainEqual(shape(example));
    },
  );

  it.each<[string, string, LambdaHandler, string]>([
    ['Unauthorized', 'GET /api/v1/runs/{runId}', getRunHandler, 'application/problem+json'],
    ['FhirUnauthorized', 'GET /fhir/r4/Patient/{id}', readPatientHandler, 'application/fhir+json'],
  ])(
    '%s is what %s answers a request without a token',
    async (component, _, handler, mediaType) => {
      // Act
      const response = await handler(requestEvent('GET', '/x', {}), LAMBDA_CONTEXT);

      // Assess
      expect(response.statusCode).toBe(401);
      expect(JSON.parse(response.body)).toStrictEqual(
        objectAt(components, 'responses', component, 'content', mediaType, 'example'),
      );
    },
  );

  it('NotFound is what the default route answers, which never names the path it was asked', async () => {
    // Prepare
    const example = objectAt(
      components,
      'responses',
      'NotFound',
      'content',
      'application/problem+json',
      'example',
    );

    // Act
    const response = await notFoundHandler(
      requestEvent('POST', '/api/v1/nope', {}),
      LAMBDA_CONTEXT,
    );
    const body = JSON.parse(response.body);

    // Assess
    expect(response.statusCode).toBe(404);
    expect(response.headers['content-type']).toBe('application/problem+json');
    expect({ ...body, detail: example['detail'] }).toStrictEqual(example);
    expect(response.body).not.toContain('nope');
  });

  it.each(['IngestAccepted', 'RedriveAccepted'])(
    '%s shows an example of its own schema, linking to a run',
    (name) => {
      // Prepare
      const validate = validatorFor(ajv, name);
      const [example] =
        schemas[name] === undefined ? [] : (objectAt(schemas, name)['examples'] as JsonObject[]);

      // Assess
      expect(validate(example), JSON.stringify(validate.errors)).toBe(true);
      expect(objectAt(example, 'links')['self']).toBe(`/api/v1/runs/${EXAMPLE_RUN_ID}`);
    },
  );

  it.each<[string, string, string]>([
    ['application/json', 'flatRecord', 'FlatEnvelope'],
    ['application/json', 'fhirBundle', 'IngestBundle'],
    ['application/fhir+json', 'fhirBundle', 'IngestBundle'],
  ])('offers under %s the %s example, which intake accepts as %s', (mediaType, example, schema) => {
    // Prepare
    const validate = validatorFor(ajv, schema);
    const reference = objectAt(
      paths,
      '/api/v1/ingest',
      'post',
      'requestBody',
      'content',
      mediaType,
      'examples',
      example,
    );

    // Act
    const { value } = resolvePointer(String(reference['$ref'])) as { value: unknown };

    // Assess
    expect(validate(value), JSON.stringify(validate.errors)).toBe(true);
    expect(classifyBatch(JSON.stringify(value), mediaType, MAX_RECORDS).recordCount).toBe(
      (value as { records?: unknown[]; entry?: unknown[] }).records?.length ??
        (value as { entry: unknown[] }).entry.length,
    );
  });

  it('offers an NDJSON example of one resource a line', () => {
    // Act
    const reference = objectAt(
      paths,
      '/api/v1/ingest',
      'post',
      'requestBody',
      'content',
      'application/fhir+ndjson',
      'examples',
      'ndjsonPair',
    );
    const { value } = resolvePointer(String(reference['$ref'])) as { value: string };

    // Assess
    expect(
      value
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line).resourceType),
    ).toStrictEqual(['Patient', 'Consent']);
    expect(classifyBatch(value, 'application/fhir+ndjson', MAX_RECORDS).recordCount).toBe(2);
  });
});
