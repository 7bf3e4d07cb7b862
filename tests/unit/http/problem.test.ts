import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import {
  AppError,
  DatabaseError,
  ForbiddenError,
  InputValidationError,
  InternalError,
  KeyServiceRefusedError,
  KeyServiceUnavailableError,
  NotFoundError,
  PayloadTooLargeError,
  QueueUnavailableError,
  RunNotFoundError,
  ServiceUnavailableError,
  TooManyRequestsError,
  TransientDatabaseError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
} from '../../../lib/errors.ts';
import { CORRELATION_ID_EXTENSION_URL } from '../../../lib/fhir/r4/resources.ts';
import {
  fhirResponse,
  jsonResponse,
  PROBLEM_CONTENT_TYPE,
  problemResponse,
  problemTypeUri,
  SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS,
} from '../../../lib/http/problem.ts';

const CORRELATION_ID = 'corr-1234-abcd';
const RUN_ID = '3f1c2a9e-8b7d-4c6e-9a5f-0d1e2f3a4b5c';
const PHI = 'Jane Doe 123-45-6789';

/** A 4xx error someone forgot to expose: it must be treated as a server fault. */
class HiddenConflictError extends AppError {
  override readonly name = 'HiddenConflictError';
  readonly code = 'conflict';
  override readonly statusCode = 409;
}

function bodyOf(response: APIGatewayProxyStructuredResultV2): Record<string, unknown> {
  return JSON.parse(response.body ?? '') as Record<string, unknown>;
}

describe('problemTypeUri', () => {
  it('builds the stable URN of a code', () => {
    // Act
    const uri = problemTypeUri('validation-failed');

    // Assess
    expect(uri).toBe('urn:problem:healthcare-etl:validation-failed');
  });
});

describe('problemResponse for exposed client errors', () => {
  it.each<[string, AppError, number, string, string]>([
    [
      'UnauthorizedError',
      new UnauthorizedError('a bearer token is required'),
      401,
      'Unauthorized',
      'unauthorized',
    ],
    [
      'ForbiddenError',
      new ForbiddenError('requires user/Patient.r'),
      403,
      'Forbidden',
      'forbidden',
    ],
    ['NotFoundError', new NotFoundError('patient not found'), 404, 'Not Found', 'not-found'],
    ['RunNotFoundError', new RunNotFoundError(RUN_ID), 404, 'Not Found', 'run-not-found'],
    [
      'PayloadTooLargeError',
      new PayloadTooLargeError('the body exceeds the limit of 100 bytes'),
      413,
      'Content Too Large',
      'payload-too-large',
    ],
    [
      'UnsupportedMediaTypeError',
      new UnsupportedMediaTypeError('the Content-Type must be one of application/json'),
      415,
      'Unsupported Media Type',
      'unsupported-media-type',
    ],
  ])('%s becomes a %i problem that explains', (_, error, status, title, code) => {
    // Act
    const response = problemResponse(error, CORRELATION_ID);

    // Assess
    expect(response.statusCode).toBe(status);
    expect(bodyOf(response)).toStrictEqual({
      type: `urn:problem:healthcare-etl:${code}`,
      title,
      status,
      detail: error.message,
      correlationId: CORRELATION_ID,
    });
    expect(response.headers).toMatchObject({
      'content-type': PROBLEM_CONTENT_TYPE,
      'cache-control': 'no-store',
      'x-correlation-id': CORRELATION_ID,
    });
  });

  it('lists the failing paths of an InputValidationError, and only their three fields', () => {
    // Prepare
    const problems = [
      { path: '/records/0/mrn', keyword: 'required', message: 'must have mrn' },
      { path: '/records/1/ssn', keyword: 'pattern', message: 'must match NNN-NN-NNNN' },
    ];
    const decorated = problems.map((problem) => ({ ...problem, value: PHI }));
    const error = new InputValidationError('the batch is invalid', decorated);

    // Act
    const response = problemResponse(error, CORRELATION_ID);

    // Assess
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response)).toStrictEqual({
      type: 'urn:problem:healthcare-etl:validation-failed',
      title: 'Bad Request',
      status: 400,
      detail: 'the batch is invalid',
      correlationId: CORRELATION_ID,
      errors: problems,
    });
    expect(response.body).not.toContain('Jane Doe');
  });

  it.each([
    [
      401,
      new UnauthorizedError('token expired'),
      'Bearer realm="healthcare-etl", error="invalid_token"',
    ],
    [
      403,
      new ForbiddenError('requires system/Patient.c'),
      'Bearer realm="healthcare-etl", error="insufficient_scope"',
    ],
  ])('sends the bearer challenge with a %i', (status, error, challenge) => {
    // Act
    const response = problemResponse(error, CORRELATION_ID);

    // Assess
    expect(response.statusCode).toBe(status);
    expect(response.headers?.['www-authenticate']).toBe(challenge);
  });

  it.each<[string, unknown]>([
    ['a 400', new InputValidationError('bad', [])],
    ['a 404', new NotFoundError('missing')],
    ['a 500', new InternalError('boom')],
    ['a 503', new ServiceUnavailableError('down')],
  ])('sends no challenge with %s', (_, error) => {
    // Act
    const response = problemResponse(error, CORRELATION_ID);

    // Assess
    expect(response.headers).not.toHaveProperty('www-authenticate');
  });
});

describe('problemResponse for server errors and anything not exposed', () => {
  it.each<[string, unknown, number, string, string]>([
    ['an InternalError carrying PHI', new InternalError(PHI), 500, 'internal-error', PHI],
    ['a plain Error', new Error('secret detail'), 500, 'internal-error', 'secret detail'],
    ['a thrown string', 'secret detail', 500, 'internal-error', 'secret detail'],
    [
      'a driver error quoting a value',
      Object.assign(new Error(`duplicate key (mrn)=(${PHI})`), { code: '23505' }),
      500,
      'internal-error',
      PHI,
    ],
    ['a DatabaseError', new DatabaseError(`failed for ${PHI}`), 500, 'internal-error', PHI],
    [
      'a KeyServiceRefusedError',
      new KeyServiceRefusedError('key arn:aws:kms:secret disabled'),
      500,
      'internal-error',
      'arn:aws:kms',
    ],
    [
      'a ServiceUnavailableError',
      new ServiceUnavailableError('database at 10.0.0.7 is down'),
      503,
      'service-unavailable',
      '10.0.0.7',
    ],
    [
      'an error with a 4xx status that is not exposed',
      new HiddenConflictError('conflict on secret detail'),
      500,
      'internal-error',
      'secret detail',
    ],
  ])('%s becomes a bare %i problem', (_, error, status, code, secret) => {
    // Act
    const response = problemResponse(error, CORRELATION_ID);

    // Assess
    expect(response.statusCode).toBe(status);
    expect(bodyOf(response)).toStrictEqual({
      type: `urn:problem:healthcare-etl:${code}`,
      title: status === 503 ? 'Service Unavailable' : 'Internal Server Error',
      status,
      correlationId: CORRELATION_ID,
    });
    expect(response.body).not.toContain(secret);
    expect(JSON.stringify(response.headers)).not.toContain(secret);
    expect(response.headers).toMatchObject({
      'content-type': PROBLEM_CONTENT_TYPE,
      'cache-control': 'no-store',
      'x-correlation-id': CORRELATION_ID,
    });
  });
});

describe('problemResponse for failures worth retrying', () => {
  const lostConnection = Object.assign(new Error(`Connection terminated near ${PHI}`), {
    code: 'ECONNRESET',
  });

  it.each<[string, unknown]>([
    ['a TransientDatabaseError', new TransientDatabaseError(`lost while storing ${PHI}`)],
    ['a driver error of a killed backend', Object.assign(new Error(PHI), { code: '57P01' })],
    ['a driver error of a dropped socket', lostConnection],
    [
      'a driver error of a dead client',
      new Error('Client has encountered a connection error and is not queryable'),
    ],
    ['a KeyServiceUnavailableError', new KeyServiceUnavailableError(`KMS throttled ${PHI}`)],
    ['a QueueUnavailableError', new QueueUnavailableError(`SQS down ${PHI}`)],
    ['a ServiceUnavailableError', new ServiceUnavailableError(`issuer down ${PHI}`)],
  ])('answers %s with a bare 503 and Retry-After', (_, error) => {
    // Act
    const response = problemResponse(error, CORRELATION_ID);

    // Assess
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['retry-after']).toBe(String(SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS));
    expect(bodyOf(response)).toStrictEqual({
      type: 'urn:problem:healthcare-etl:service-unavailable',
      title: 'Service Unavailable',
      status: 503,
      correlationId: CORRELATION_ID,
    });
    expect(response.body).not.toContain('Jane Doe');
  });

  it('answers a FHIR route the same way, with generic diagnostics', () => {
    // Prepare
    const error = new TransientDatabaseError(`lost while reading ${PHI}`);

    // Act
    const response = problemResponse(error, CORRELATION_ID, 'operation-outcome');

    // Assess
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['retry-after']).toBe(String(SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS));
    expect(bodyOf(response)['issue']).toStrictEqual([
      { severity: 'error', code: 'exception', diagnostics: expect.any(String) },
    ]);
    expect(response.body).not.toContain('Jane Doe');
  });

  it.each<[string, unknown]>([
    ['an InternalError', new InternalError('boom')],
    ['a DatabaseError', new DatabaseError('constraint')],
    ['a NotFoundError', new NotFoundError('missing')],
  ])('sends no Retry-After with %s, which a retry would not fix', (_, error) => {
    // Act
    const response = problemResponse(error, CORRELATION_ID);

    // Assess
    expect(response.headers).not.toHaveProperty('retry-after');
  });
});

describe('jsonResponse', () => {
  it('serialises the body as JSON that is never cached', () => {
    // Act
    const response = jsonResponse(202, { runId: RUN_ID, status: 'queued' }, { location: '/x' });

    // Assess
    expect(response).toStrictEqual({
      statusCode: 202,
      headers: {
        'content-type': 'application/json',
        'cache-control': 'no-store',
        location: '/x',
      },
      body: JSON.stringify({ runId: RUN_ID, status: 'queued' }),
    });
  });

  it('needs no extra headers', () => {
    // Act
    const response = jsonResponse(200, { status: 'ok' });

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.headers).toStrictEqual({
      'content-type': 'application/json',
      'cache-control': 'no-store',
    });
    expect(JSON.parse(response.body ?? '')).toStrictEqual({ status: 'ok' });
  });
});

describe('problemResponse on FHIR routes: OperationOutcome', () => {
  const FHIR_JSON = 'application/fhir+json';
  const correlation = [{ url: CORRELATION_ID_EXTENSION_URL, valueString: CORRELATION_ID }];

  it.each<[string, AppError, number, string]>([
    [
      'an InputValidationError',
      new InputValidationError('the search is invalid', []),
      400,
      'invalid',
    ],
    ['an UnauthorizedError', new UnauthorizedError('a bearer token is required'), 401, 'login'],
    ['a ForbiddenError', new ForbiddenError('the patient has not consented'), 403, 'forbidden'],
    ['a NotFoundError', new NotFoundError('no such patient'), 404, 'not-found'],
    ['a PayloadTooLargeError', new PayloadTooLargeError('too big'), 413, 'too-costly'],
    ['an UnsupportedMediaTypeError', new UnsupportedMediaTypeError('xml'), 415, 'not-supported'],
    ['a TooManyRequestsError', new TooManyRequestsError(7), 429, 'throttled'],
  ])('writes %s as a %i OperationOutcome whose diagnostics explain', (_, error, status, code) => {
    // Act
    const response = problemResponse(error, CORRELATION_ID, 'operation-outcome');

    // Assess
    expect(response.statusCode).toBe(status);
    expect(bodyOf(response)).toStrictEqual({
      resourceType: 'OperationOutcome',
      extension: correlation,
      issue: [{ severity: 'error', code, diagnostics: error.message }],
    });
    expect(response.headers).toMatchObject({
      'content-type': FHIR_JSON,
      'cache-control': 'no-store',
      'x-correlation-id': CORRELATION_ID,
    });
  });

  it.each<[string, unknown, number, string]>([
    ['an InternalError carrying PHI', new InternalError(PHI), 500, PHI],
    ['a plain Error', new Error('secret detail'), 500, 'secret detail'],
    [
      'a ServiceUnavailableError',
      new ServiceUnavailableError('database at 10.0.0.7 is down'),
      503,
      '10.0.0.7',
    ],
    [
      'an error with a 4xx status that is not exposed',
      new HiddenConflictError('conflict on secret detail'),
      500,
      'secret detail',
    ],
  ])('writes %s as a %i exception with generic diagnostics only', (_, error, status, secret) => {
    // Act
    const response = problemResponse(error, CORRELATION_ID, 'operation-outcome');

    // Assess
    expect(response.statusCode).toBe(status);
    const body = bodyOf(response);
    expect(body).toMatchObject({ resourceType: 'OperationOutcome', extension: correlation });
    expect(body['issue']).toStrictEqual([
      { severity: 'error', code: 'exception', diagnostics: expect.any(String) },
    ]);
    expect(response.body).not.toContain(secret);
    expect(response.headers?.['content-type']).toBe(FHIR_JSON);
  });

  it('lists the failing locations of an InputValidationError, never a value', () => {
    // Prepare
    const error = new InputValidationError('the Observation search is invalid', [
      { path: '/_count', keyword: 'maximum', message: 'must be a whole number from 1 to 1000' },
    ]);
    Object.assign(error.problems[0] as object, { value: PHI });

    // Act
    const response = problemResponse(error, CORRELATION_ID, 'operation-outcome');

    // Assess
    expect(bodyOf(response)['issue']).toStrictEqual([
      { severity: 'error', code: 'invalid', diagnostics: 'the Observation search is invalid' },
      {
        severity: 'error',
        code: 'invalid',
        diagnostics: '/_count: must be a whole number from 1 to 1000',
      },
    ]);
    expect(response.body).not.toContain('Jane Doe');
  });

  it.each<[string, AppError, string, string]>([
    [
      'the bearer challenge of a 401',
      new UnauthorizedError('token expired'),
      'www-authenticate',
      'Bearer realm="healthcare-etl", error="invalid_token"',
    ],
    [
      'the bearer challenge of a 403',
      new ForbiddenError('requires user/Observation.s'),
      'www-authenticate',
      'Bearer realm="healthcare-etl", error="insufficient_scope"',
    ],
    ['the Retry-After of a 429', new TooManyRequestsError(7), 'retry-after', '7'],
  ])('keeps %s, as problem+json does', (_, error, header, value) => {
    // Act
    const outcome = problemResponse(error, CORRELATION_ID, 'operation-outcome');
    const problem = problemResponse(error, CORRELATION_ID);

    // Assess
    expect(outcome.headers?.[header]).toBe(value);
    expect(outcome.statusCode).toBe(problem.statusCode);
    expect({ ...outcome.headers, 'content-type': undefined }).toStrictEqual({
      ...problem.headers,
      'content-type': undefined,
    });
  });
});

describe('fhirResponse', () => {
  it('serialises a resource as application/fhir+json that is never cached', () => {
    // Act
    const response = fhirResponse(200, { resourceType: 'Patient', id: RUN_ID });

    // Assess
    expect(response).toStrictEqual({
      statusCode: 200,
      headers: { 'content-type': 'application/fhir+json', 'cache-control': 'no-store' },
      body: JSON.stringify({ resourceType: 'Patient', id: RUN_ID }),
    });
  });
});
