import { Logger } from '@aws-lambda-powertools/logger';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ConfigError,
  InputValidationError,
  InternalError,
  TooManyRequestsError,
  UnauthorizedError,
} from '../../../lib/errors.ts';
import type { HttpErrorsOptions } from '../../../lib/http/middleware.ts';
import { correlationIdOf, httpErrors } from '../../../lib/http/middleware.ts';
import { jsonResponse } from '../../../lib/http/problem.ts';
import { captureOutput } from '../../helpers/output.ts';
import { httpEvent, lambdaContext } from './httpEvent.ts';

const PHI_BODY = JSON.stringify({
  records: [{ resourceType: 'Patient', mrn: 'MRN-CANARY-77', name: 'Jane Canary' }],
});
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

type HttpResult = APIGatewayProxyStructuredResultV2;

function logLines(output: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function testLogger(): Logger {
  return new Logger({ serviceName: 'http-test', logLevel: 'DEBUG' });
}

/** A real middy handler behind the middleware; `respond` plays the handler's part. */
function handlerWith(respond: (event: APIGatewayProxyEventV2) => Promise<HttpResult>) {
  return middy<APIGatewayProxyEventV2, HttpResult>()
    .use(httpErrors({ logger: testLogger() }))
    .handler(respond);
}

function failingWith(error: unknown) {
  return handlerWith(async () => {
    throw error;
  });
}

function bodyOf(response: HttpResult): Record<string, unknown> {
  return JSON.parse(response.body ?? '') as Record<string, unknown>;
}

afterEach(() => {
  vi.restoreAllMocks();
});

const CLIENT_ID = '0b8f6a1e-3c52-4f7d-9a10-5e2b7c4d8f91';
const OTHER_CLIENT_ID = '6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f';

describe('httpErrors: correlation ids', () => {
  it.each([
    ['in lower case', CLIENT_ID, CLIENT_ID],
    ['in upper case, normalised to lower', CLIENT_ID.toUpperCase(), CLIENT_ID],
    [
      'of another version',
      '01890a5d-ac96-774b-bcce-b302099a8057',
      '01890a5d-ac96-774b-bcce-b302099a8057',
    ],
  ])('keeps a client’s UUID (%s) on the problem', async (_, sent, kept) => {
    // Prepare
    const event = httpEvent({ headers: { 'x-correlation-id': sent }, body: PHI_BODY });

    // Act
    const { result } = await captureOutput(() =>
      failingWith(new InputValidationError('the batch is invalid', []))(event, lambdaContext),
    );

    // Assess
    expect(result.headers?.['x-correlation-id']).toBe(kept);
    expect(bodyOf(result)['correlationId']).toBe(kept);
    expect(correlationIdOf(event)).toBe(kept);
  });

  it('reads the header in any case', async () => {
    // Prepare
    const event = httpEvent({ headers: { 'X-Correlation-ID': CLIENT_ID } });

    // Act
    const { result } = await captureOutput(() =>
      handlerWith(async () => jsonResponse(200, {}))(event, lambdaContext),
    );

    // Assess
    expect(result.headers?.['x-correlation-id']).toBe(CLIENT_ID);
  });

  it.each([
    ['an SSN', '987-65-4321'],
    ['an MRN', 'MRN-00012345'],
    ['a name', 'jane.doe_1970'],
    ['free text in the old format', 'client.trace_42-x'],
    ['a UUID with text around it', `x${CLIENT_ID}`],
    ['a UUID without hyphens', CLIENT_ID.replaceAll('-', '')],
    ['a header injection', `${CLIENT_ID}\r\nset-cookie: x=1`],
    ['empty', ''],
  ])('replaces anything but a UUID (%s) by a fresh UUID, never logging it', async (_, sent) => {
    // Prepare
    const event = httpEvent({ headers: { 'x-correlation-id': sent } });

    // Act
    const { result, output } = await captureOutput(() =>
      failingWith(new InternalError('boom'))(event, lambdaContext),
    );

    // Assess
    const id = result.headers?.['x-correlation-id'];
    expect(id).toMatch(UUID);
    expect(bodyOf(result)['correlationId']).toBe(id);
    expect(logLines(output).map((line) => line['correlationId'])).toStrictEqual([id, id]);
    if (sent !== '') expect(output).not.toContain(sent);
  });

  it('never takes API Gateway’s request id: two requests with the same one get two ids', async () => {
    // Prepare: serverless-offline gives every request this one.
    const events = [1, 2].map(() => httpEvent({ requestId: 'offlineContext_resourceId' }));
    const handler = handlerWith(async () => jsonResponse(200, {}));

    // Act
    const { result: responses, output } = await captureOutput(() =>
      Promise.all(events.map((event) => handler(event, lambdaContext))),
    );

    // Assess
    const ids = responses.map((response) => response.headers?.['x-correlation-id']);
    for (const id of ids) expect(id).toMatch(UUID);
    expect(ids[0]).not.toBe(ids[1]);
    expect(logLines(output).map((line) => line['gatewayRequestId'])).toStrictEqual([
      'offlineContext_resourceId',
      'offlineContext_resourceId',
    ]);
  });

  it('gives the handler the id the response will carry', async () => {
    // Prepare
    const event = httpEvent({ headers: { 'x-correlation-id': OTHER_CLIENT_ID } });
    let seen = '';
    const handler = handlerWith(async (received) => {
      seen = correlationIdOf(received);
      return jsonResponse(200, { status: 'ok' });
    });

    // Act
    await captureOutput(() => handler(event, lambdaContext));

    // Assess
    expect(seen).toBe(OTHER_CLIENT_ID);
  });

  it('adds the header to a success response and keeps the handler’s headers and body', async () => {
    // Prepare
    const event = httpEvent({ headers: { 'x-correlation-id': CLIENT_ID } });
    const handler = handlerWith(async () =>
      jsonResponse(202, { runId: 'r-1' }, { location: '/api/v1/runs/r-1' }),
    );

    // Act
    const { result } = await captureOutput(() => handler(event, lambdaContext));

    // Assess
    expect(result).toStrictEqual({
      statusCode: 202,
      headers: {
        'content-type': 'application/json',
        'cache-control': 'no-store',
        location: '/api/v1/runs/r-1',
        'x-correlation-id': CLIENT_ID,
      },
      body: JSON.stringify({ runId: 'r-1' }),
    });
  });

  it('gives two events without ids two different ids, each stable for its event', () => {
    // Prepare
    const first = httpEvent();
    const second = httpEvent();

    // Act
    const ids = [correlationIdOf(first), correlationIdOf(first), correlationIdOf(second)];

    // Assess
    expect(ids[0]).toBe(ids[1]);
    expect(ids[2]).not.toBe(ids[0]);
  });
});

describe('httpErrors: one access line per request', () => {
  const MRN_PATH = '/api/v1/patients';

  it.each<[string, () => Promise<HttpResult>, number]>([
    ['a success', async () => jsonResponse(200, { ok: true }), 200],
    [
      'a 4xx',
      async () => {
        throw new InputValidationError('bad', []);
      },
      400,
    ],
    [
      'a 5xx',
      async () => {
        throw new InternalError('Jane Doe');
      },
      500,
    ],
  ])(
    'logs %s as `request served` with its id, route template, status and duration',
    async (_, respond, status) => {
      // Prepare
      const event = httpEvent({ requestId: 'gw-request-0042' });
      event.rawPath = MRN_PATH;
      event.rawQueryString = 'mrn=MRN-CANARY-77';
      event.requestContext.http.path = MRN_PATH;
      const handler = middy<APIGatewayProxyEventV2, HttpResult>()
        .use(httpErrors({ logger: testLogger(), route: 'GET /api/v1/patients' }))
        .handler(respond);

      // Act
      const { result, output } = await captureOutput(() => handler(event, lambdaContext));

      // Assess
      const served = logLines(output).filter((line) => line['message'] === 'request served');
      expect(served).toHaveLength(1);
      expect(served[0]).toMatchObject({
        level: 'INFO',
        correlationId: result.headers?.['x-correlation-id'],
        route: 'GET /api/v1/patients',
        status,
        gatewayRequestId: 'gw-request-0042',
      });
      expect(served[0]?.['durationMs']).toEqual(expect.any(Number));
      expect(output).not.toContain('MRN-CANARY-77');
      expect(output).not.toContain('Jane Doe');
    },
  );

  it('names the request by the function when no route is given, and leaves out a gateway id that is not header-safe', async () => {
    // Prepare
    const event = httpEvent({ requestId: 'bad id\n' });

    // Act
    const { output } = await captureOutput(() =>
      handlerWith(async () => jsonResponse(204, {}))(event, lambdaContext),
    );

    // Assess
    const [served] = logLines(output);
    expect(served).toMatchObject({ message: 'request served', route: 'ingest', status: 204 });
    expect(served).not.toHaveProperty('gatewayRequestId');
  });
});

describe('httpErrors: errors become problems', () => {
  it('answers a 4xx with its detail and logs one info line with the code', async () => {
    // Prepare
    const event = httpEvent({
      headers: { 'x-correlation-id': CLIENT_ID },
      body: PHI_BODY,
    });
    const error = new InputValidationError('the batch is invalid', [
      { path: '/records/0/mrn', keyword: 'pattern', message: 'must match the MRN pattern' },
    ]);

    // Act
    const { result, output } = await captureOutput(() => failingWith(error)(event, lambdaContext));

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf(result)).toMatchObject({ detail: 'the batch is invalid', status: 400 });
    const lines = logLines(output);
    expect(lines.map((line) => line['message'])).toStrictEqual([
      'request rejected',
      'request served',
    ]);
    expect(lines[0]).toMatchObject({
      level: 'INFO',
      message: 'request rejected',
      correlationId: CLIENT_ID,
      status: 400,
      code: 'validation-failed',
    });
    expect(output).not.toContain('MRN-CANARY-77');
    expect(output).not.toContain('Jane Canary');
  });

  it('answers a 401 thrown by an earlier middleware with the bearer challenge', async () => {
    // Prepare
    const handler = middy<APIGatewayProxyEventV2, HttpResult>()
      .use(httpErrors({ logger: testLogger() }))
      .use({
        before: () => {
          throw new UnauthorizedError('a bearer token is required');
        },
      })
      .handler(async () => jsonResponse(200, {}));

    // Act
    const { result } = await captureOutput(() => handler(httpEvent(), lambdaContext));

    // Assess
    expect(result.statusCode).toBe(401);
    expect(result.headers?.['www-authenticate']).toContain('invalid_token');
    expect(result.headers?.['x-correlation-id']).toMatch(UUID);
  });

  it.each<[string, unknown, string, string | undefined]>([
    [
      'an InternalError whose message is PHI',
      new InternalError('Jane Doe 123-45-6789', { cause: new TypeError('Jane Doe') }),
      'InternalError',
      'TypeError',
    ],
    ['a plain Error', new Error('secret detail'), 'InternalError', 'Error'],
    ['a thrown string', 'secret detail', 'InternalError', undefined],
  ])(
    'answers %s with a bare 500 and logs names and codes, never its message or the body',
    async (_, error, name, causeName) => {
      // Prepare
      const event = httpEvent({
        headers: { 'x-correlation-id': CLIENT_ID },
        body: PHI_BODY,
      });

      // Act
      const { result, output } = await captureOutput(() =>
        failingWith(error)(event, lambdaContext),
      );

      // Assess
      expect(result.statusCode).toBe(500);
      expect(bodyOf(result)).toStrictEqual({
        type: 'urn:problem:healthcare-etl:internal-error',
        title: 'Internal Server Error',
        status: 500,
        correlationId: CLIENT_ID,
      });
      const lines = logLines(output);
      expect(lines.map((line) => line['message'])).toStrictEqual([
        'request failed',
        'request served',
      ]);
      expect(lines[0]).toMatchObject({
        level: 'ERROR',
        message: 'request failed',
        correlationId: CLIENT_ID,
        status: 500,
      });
      const expected =
        causeName === undefined
          ? { name, code: 'internal-error' }
          : { name, code: 'internal-error', causeName };
      expect(lines[0]?.['error']).toStrictEqual(expected);
      for (const secret of ['Jane Doe', '123-45-6789', 'secret detail', 'MRN-CANARY-77']) {
        expect(output).not.toContain(secret);
        expect(result.body).not.toContain(secret);
      }
    },
  );

  it('keeps a response another onError middleware already made, adding the id', async () => {
    // Prepare
    const handler = middy<APIGatewayProxyEventV2, HttpResult>()
      .use(httpErrors({ logger: testLogger() }))
      .use({
        onError: (request) => {
          request.response = jsonResponse(418, { handled: true });
        },
      })
      .handler(async () => {
        throw new InternalError('boom');
      });

    // Act
    const { result, output } = await captureOutput(() => handler(httpEvent(), lambdaContext));

    // Assess
    expect(result.statusCode).toBe(418);
    expect(result.headers?.['x-correlation-id']).toMatch(UUID);
    expect(logLines(output)).toMatchObject([{ message: 'request served', status: 418 }]);
  });
});

describe('httpErrors: OperationOutcome on FHIR routes', () => {
  function fhirHandlerWith(before: () => void) {
    return middy<APIGatewayProxyEventV2, HttpResult>()
      .use(httpErrors({ logger: testLogger(), format: 'operation-outcome' }))
      .use({ before })
      .handler(async () => jsonResponse(200, {}));
  }

  it.each<[string, unknown, number, string, string, string]>([
    [
      'a 401 from authentication',
      new UnauthorizedError('a bearer token is required'),
      401,
      'login',
      'www-authenticate',
      'Bearer realm="healthcare-etl", error="invalid_token"',
    ],
    [
      'a 429 from the rate limiter',
      new TooManyRequestsError(3),
      429,
      'throttled',
      'retry-after',
      '3',
    ],
  ])('answers %s thrown by an earlier middleware', async (_, error, status, code, name, value) => {
    // Prepare
    const handler = fhirHandlerWith(() => {
      throw error;
    });

    // Act
    const { result, output } = await captureOutput(() => handler(httpEvent(), lambdaContext));

    // Assess
    expect(result.statusCode).toBe(status);
    expect(result.headers?.['content-type']).toBe('application/fhir+json');
    expect(result.headers?.[name]).toBe(value);
    expect(bodyOf(result)).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code }],
    });
    expect(logLines(output)[0]).toMatchObject({ message: 'request rejected', status });
  });

  it('answers an unexposed failure with a bare exception and logs it as a problem would', async () => {
    // Prepare
    const handler = fhirHandlerWith(() => {
      throw new InternalError('Jane Doe 123-45-6789');
    });

    // Act
    const { result, output } = await captureOutput(() => handler(httpEvent(), lambdaContext));

    // Assess
    expect(result.statusCode).toBe(500);
    expect(bodyOf(result)).toMatchObject({ issue: [{ code: 'exception' }] });
    expect(result.body).not.toContain('Jane Doe');
    expect(output).not.toContain('Jane Doe');
    expect(logLines(output)[0]).toMatchObject({ level: 'ERROR', message: 'request failed' });
  });
});

describe('httpErrors: options', () => {
  it.each<[string, unknown]>([
    ['no logger', {}],
    ['a logger without error()', { logger: { info: () => undefined } }],
    ['no options', undefined],
    ['an unknown format', { logger: testLogger(), format: 'xml' }],
  ])('refuses %s with a ConfigError', (_, options) => {
    // Act
    const create = () => httpErrors(options as HttpErrorsOptions);

    // Assess
    expect(create).toThrow(ConfigError);
  });
});
