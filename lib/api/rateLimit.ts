import { createHash } from 'node:crypto';
import type { MiddlewareObj, Request } from '@middy/core';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { type AuthenticatedEvent, principalOf } from '../auth/middleware.ts';
import type { Config } from '../config.ts';
import { toAppError } from '../db/errors.ts';
import type { Queryable } from '../db/pool.ts';
import { takeFromBucket } from '../db/repositories/rateLimits.ts';
import { ForbiddenError, TooManyRequestsError, UnauthorizedError } from '../errors.ts';
import { headerValue } from '../http/body.ts';

type RateSettings = Config['rateLimit'];

interface RateLimitOptions {
  readonly db: () => Queryable;
  readonly settings: () => RateSettings;
}

// Buckets are named by digests: neither a subject nor an address is stored.
const digest = (text: string) => createHash('sha256').update(text).digest('base64url');

/** The bucket of a tenant: every token of one subject draws from it. */
export function tenantBucket(subject: string): string {
  return `tenant:${digest(subject)}`;
}

/** The bucket of the failed authentications from one source address. */
export function failedAuthenticationBucket(sourceIp: string): string {
  return `auth-failures:${digest(sourceIp)}`;
}

/** Takes one request from `bucket`; 429 with Retry-After when it is empty. */
export async function takeRequest(
  db: Queryable,
  bucket: string,
  settings: RateSettings,
): Promise<void> {
  const wait = await takeFromBucket(db, bucket, {
    capacity: settings.burst,
    perSecond: settings.perMinute / 60,
  });
  if (wait > 0) throw new TooManyRequestsError(Math.max(1, Math.ceil(wait)));
}

type RateLimitedRequest = Request<AuthenticatedEvent, APIGatewayProxyStructuredResultV2>;

/**
 * Charges a request already refused (401, 403) to `bucket`: once that is empty the refusal
 * becomes a 429 with Retry-After, and a 503 when the database is down.
 */
async function chargeRefused(
  request: RateLimitedRequest,
  options: RateLimitOptions,
  bucket: string,
): Promise<void> {
  try {
    await takeRequest(options.db(), bucket, options.settings());
  } catch (error) {
    request.error = toAppError(error);
  }
}

/**
 * After authentication: the tenant's request rate, shared by every instance through PostgreSQL.
 * A request its scopes refuse (403) is charged to the tenant too, once that bucket is empty a
 * 429 instead: a verified client probing routes it may not use is throttled like any other.
 */
export function rateLimited(
  options: RateLimitOptions,
): MiddlewareObj<AuthenticatedEvent, APIGatewayProxyStructuredResultV2> {
  // The requests already charged: a 403 the handler answers (a refused consent) costs one.
  const charged = new WeakSet<AuthenticatedEvent>();
  return {
    name: 'rateLimited',
    before: async (request) => {
      charged.add(request.event);
      const bucket = tenantBucket(principalOf(request.event).subject);
      await takeRequest(options.db(), bucket, options.settings());
    },
    onError: async (request) => {
      const { principal } = request.event;
      if (!(request.error instanceof ForbiddenError) || principal === undefined) return;
      if (charged.has(request.event)) return;
      await chargeRefused(request, options, tenantBucket(principal.subject));
    },
  };
}

/**
 * Before authentication, so that its onError sees the 401: each token refused takes one
 * request from its source address's bucket, and once that is empty the answer is a 429 with
 * Retry-After instead of the 401, so that guessing tokens is throttled too.
 */
export function authenticationFailuresLimited(
  options: RateLimitOptions,
): MiddlewareObj<AuthenticatedEvent, APIGatewayProxyStructuredResultV2> {
  return {
    name: 'authenticationFailuresLimited',
    onError: async (request) => {
      if (!(request.error instanceof UnauthorizedError)) return;
      // A request without a token guesses nothing, and its 401 costs no verification.
      if (headerValue(request.event, 'authorization') === undefined) return;
      const sourceIp = request.event.requestContext?.http?.sourceIp ?? 'unknown';
      await chargeRefused(request, options, failedAuthenticationBucket(sourceIp));
    },
  };
}
