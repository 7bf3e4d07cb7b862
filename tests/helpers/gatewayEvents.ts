import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import type { AuthenticatedEvent } from '../../lib/auth/middleware.ts';
import { mintToken } from '../../lib/auth/tokens.ts';

/** The issuer and audience of the embedded stack's HS256 tokens, as a deployed function reads them. */
export const TOKEN_ISSUER = 'healthcare-etl-local';
export const TOKEN_AUDIENCE = 'healthcare-etl-api';

/** A bearer token for `subject` with `scopes`, signed with `secret`, valid for ten minutes. */
export function bearerToken(
  secret: Buffer,
  subject: string,
  scopes: readonly string[],
): Promise<string> {
  return mintToken(secret, {
    subject,
    scopes,
    issuer: TOKEN_ISSUER,
    audience: TOKEN_AUDIENCE,
    ttlSeconds: 600,
  });
}

/** The Lambda context a function handler is invoked with. */
export function lambdaContextOf(functionName: string): Context {
  return {
    functionName,
    awsRequestId: 'lambda-request-1',
    getRemainingTimeInMillis: () => 30_000,
  } as unknown as Context;
}

export interface GetEventOptions {
  readonly host: string;
  readonly bearer?: string;
  readonly query?: Record<string, string>;
  readonly pathParameters?: Record<string, string>;
}

/** An HTTP API (payload 2.0) GET event for `path`, as API Gateway hands it to a function. */
export function gatewayGetEvent(path: string, options: GetEventOptions): AuthenticatedEvent {
  const { host } = options;
  const query = options.query ?? {};
  return {
    version: '2.0',
    routeKey: `GET ${path}`,
    rawPath: path,
    rawQueryString: new URLSearchParams(query).toString(),
    headers: {
      host,
      'x-forwarded-proto': 'https',
      ...(options.bearer === undefined ? {} : { authorization: `Bearer ${options.bearer}` }),
    },
    ...(Object.keys(query).length === 0 ? {} : { queryStringParameters: query }),
    ...(options.pathParameters === undefined ? {} : { pathParameters: options.pathParameters }),
    isBase64Encoded: false,
    requestContext: {
      accountId: '000000000000',
      apiId: 'api',
      domainName: host,
      domainPrefix: host.split('.')[0] ?? host,
      http: {
        method: 'GET',
        path,
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'vitest',
      },
      requestId: `gw-${randomUUID()}`,
      routeKey: `GET ${path}`,
      stage: '$default',
      time: '01/Jan/2030:00:00:00 +0000',
      timeEpoch: 1_893_456_000_000,
    },
  } as AuthenticatedEvent;
}
