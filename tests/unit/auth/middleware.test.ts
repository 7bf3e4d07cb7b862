import { randomBytes } from 'node:crypto';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import {
  type AuthenticatedEvent,
  authenticated,
  principalOf,
} from '../../../lib/auth/middleware.ts';
import { createTokenVerifier, mintToken, type TokenVerifier } from '../../../lib/auth/tokens.ts';
import type { AuthConfig } from '../../../lib/config.ts';
import { ConfigError, ForbiddenError, UnauthorizedError } from '../../../lib/errors.ts';

const SECRET = randomBytes(32);
const auth: AuthConfig = {
  issuer: 'healthcare-etl-local',
  audience: 'healthcare-etl-api',
  keys: { kind: 'secret', secret: SECRET, secretFile: '/nonexistent/jwt-secret' },
};

const context: Context = {
  callbackWaitsForEmptyEventLoop: false,
  functionName: 'getPatient',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:000000000000:function:getPatient',
  memoryLimitInMB: '256',
  awsRequestId: 'request-1',
  logGroupName: '/aws/lambda/getPatient',
  logStreamName: 'stream',
  getRemainingTimeInMillis: () => 30_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
};

function eventWith(headers: Record<string, string>): AuthenticatedEvent {
  return {
    version: '2.0',
    routeKey: 'GET /api/v1/patients/{id}',
    rawPath: '/api/v1/patients/p-1',
    rawQueryString: '',
    headers,
    requestContext: {
      accountId: '000000000000',
      apiId: 'api',
      domainName: 'api.example.test',
      domainPrefix: 'api',
      http: {
        method: 'GET',
        path: '/api/v1/patients/p-1',
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'vitest',
      },
      requestId: 'request-1',
      routeKey: 'GET /api/v1/patients/{id}',
      stage: '$default',
      time: '01/Jan/2030:00:00:00 +0000',
      timeEpoch: 1_893_456_000_000,
    },
    isBase64Encoded: false,
  };
}

function tokenWith(scopes: readonly string[], patient?: string): Promise<string> {
  return mintToken(SECRET, {
    subject: 'clinician-7',
    scopes,
    ...(patient === undefined ? {} : { patient }),
    issuer: auth.issuer,
    audience: auth.audience,
    ttlSeconds: 300,
  });
}

/** A real middy handler behind the middleware that answers with the principal it was given. */
function handlerFor(anyOf: readonly string[], verifier: () => TokenVerifier) {
  return middy<AuthenticatedEvent>()
    .use(authenticated({ verifier, anyOf }))
    .handler(async (event: AuthenticatedEvent) => principalOf(event));
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('authenticated', () => {
  const verifier = createTokenVerifier(auth);
  const handler = handlerFor(['user/Patient.r'], () => verifier);

  it.each([
    ['lower-case', 'authorization', 'Bearer'],
    ['capitalised', 'Authorization', 'Bearer'],
    ['upper-case', 'AUTHORIZATION', 'bearer'],
  ])('sets event.principal from a %s header with a valid token', async (_, name, scheme) => {
    // Prepare
    const token = await tokenWith(['user/Patient.rs']);
    const event = eventWith({ [name]: `${scheme} ${token}` });

    // Act
    const principal = await handler(event, context);

    // Assess
    expect(principal).toMatchObject({ subject: 'clinician-7', scopes: ['user/Patient.rs'] });
    expect(event.principal).toStrictEqual(principal);
  });

  it('accepts more than one space after the scheme', async () => {
    // Prepare
    const token = await tokenWith(['user/Patient.r']);

    // Act
    const principal = await handler(eventWith({ authorization: `Bearer   ${token}` }), context);

    // Assess
    expect(principal.subject).toBe('clinician-7');
  });

  it.each([
    ['no Authorization header', {}],
    ['an empty Authorization header', { authorization: '' }],
    ['Basic credentials', { authorization: 'Basic x' }],
    ['the scheme alone', { authorization: 'Bearer' }],
    ['the scheme and a space', { authorization: 'Bearer ' }],
    ['the scheme without a space', { authorization: 'Bearerabc.def.ghi' }],
    ['two tokens', { authorization: 'Bearer a.b.c Bearer d.e.f' }],
    ['a token that does not verify', { authorization: 'Bearer abc.def.ghi' }],
  ])('answers 401 for %s, before the handler runs', async (_, headers) => {
    // Prepare
    let ran = false;
    const guarded = middy<AuthenticatedEvent>()
      .use(authenticated({ verifier: () => verifier, anyOf: ['user/Patient.r'] }))
      .handler(async () => {
        ran = true;
      });

    // Act
    const error = await rejectionOf(guarded(eventWith(headers), context));

    // Assess
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect((error as UnauthorizedError).statusCode).toBe(401);
    expect(ran).toBe(false);
  });

  it('answers 403 naming the required scopes, not the granted ones', async () => {
    // Prepare
    const token = await tokenWith(['user/Consent.u', 'system/Patient.r']);
    const runReader = handlerFor(['system/Patient.c', 'user/Patient.r'], () => verifier);

    // Act
    const error = await rejectionOf(
      runReader(eventWith({ authorization: `Bearer ${token}` }), context),
    );

    // Assess
    expect(error).toBeInstanceOf(ForbiddenError);
    const { message, statusCode } = error as ForbiddenError;
    expect(statusCode).toBe(403);
    expect(message).toBe('requires one of the scopes: system/Patient.c, user/Patient.r');
    expect(message).not.toContain('user/Consent.u');
    expect(message).not.toContain(token);
  });

  it.each([
    ['a consent change', ['user/Consent.u', 'system/Consent.u']],
    ['the runs', ['system/Patient.c', 'user/Patient.r', 'system/*.rs']],
    ['the audit log', ['system/AuditEvent.r']],
  ])(
    'answers 403 to a token with a launch context on %s, whatever scopes it holds',
    async (_, anyOf) => {
      // Prepare: an EHR launch: user/ and system/ scopes, and the patient it was launched for.
      const token = await tokenWith(
        ['user/*.*', 'system/*.*', 'patient/*.rs'],
        '5f0e9a58-52d4-4b8e-9f5e-0d3c2b1a0f9e',
      );
      let ran = false;
      const guarded = middy<AuthenticatedEvent>()
        .use(authenticated({ verifier: () => verifier, anyOf }))
        .handler(async () => {
          ran = true;
        });

      // Act
      const error = await rejectionOf(
        guarded(eventWith({ authorization: `Bearer ${token}` }), context),
      );

      // Assess
      expect(error).toBeInstanceOf(ForbiddenError);
      expect((error as ForbiddenError).message).toMatch(/launch context/);
      expect(ran).toBe(false);
    },
  );

  it('lets a token with a launch context through on a route a patient/ scope opens', async () => {
    // Prepare
    const patient = '5f0e9a58-52d4-4b8e-9f5e-0d3c2b1a0f9e';
    const token = await tokenWith(['user/*.*', 'patient/*.rs'], patient);
    const reader = handlerFor(['user/Patient.r', 'patient/Patient.r'], () => verifier);

    // Act
    const principal = await reader(eventWith({ authorization: `Bearer ${token}` }), context);

    // Assess: through, with its patient for the access layer to confine it to.
    expect(principal).toMatchObject({ subject: 'clinician-7', patient });
  });

  it('builds the verifier at the first request, not when the handler is defined', async () => {
    // Prepare
    let built = 0;
    const lazy = handlerFor(['user/Patient.r'], () => {
      built += 1;
      return verifier;
    });
    const builtBefore = built;
    const token = await tokenWith(['user/Patient.r']);

    // Act
    await lazy(eventWith({ authorization: `Bearer ${token}` }), context);

    // Assess
    expect(builtBefore).toBe(0);
    expect(built).toBe(1);
  });

  it.each([
    ['no scopes', []],
    ['a scope that is not SMART', ['user/patient.read']],
  ])('refuses %s in anyOf with a ConfigError', (_, anyOf) => {
    // Act
    const act = () => authenticated({ verifier: () => verifier, anyOf });

    // Assess
    expect(act).toThrow(ConfigError);
  });
});

describe('principalOf', () => {
  it('throws a 401 when the middleware did not run', () => {
    // Act
    const act = () => principalOf(eventWith({}));

    // Assess
    expect(act).toThrow(UnauthorizedError);
  });
});
