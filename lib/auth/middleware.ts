import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { ConfigError, ForbiddenError, UnauthorizedError } from '../errors.ts';
import { headerValue } from '../http/body.ts';
import { parseScope, satisfiesAny } from './scopes.ts';
import type { Principal, TokenVerifier } from './tokens.ts';

export type AuthenticatedEvent = APIGatewayProxyEventV2 & { principal?: Principal };

export interface AuthenticatedOptions {
  /** A getter, so a handler module builds its verifier (and reads its keys) at first use. */
  readonly verifier: () => TokenVerifier;
  /** The request needs at least one of these scopes. */
  readonly anyOf: readonly string[];
}

// RFC 6750 b64token; a comma (two joined Authorization headers) does not match.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

function bearerToken(event: APIGatewayProxyEventV2): string {
  const header = headerValue(event, 'authorization');
  if (header === undefined || header.trim() === '') {
    throw new UnauthorizedError('the request needs an Authorization: Bearer token');
  }
  const token = BEARER.exec(header.trim())?.[1];
  if (token === undefined) {
    throw new UnauthorizedError('the Authorization header must be: Bearer <token>');
  }
  return token;
}

/**
 * Authenticates the request by its bearer token and requires one of the
 * `anyOf` SMART scopes: 401 without a valid token, 403 without the scope. A token with a
 * patient launch context (the `patient` claim) is a 403 on every route no patient/ scope opens
 * (runs, audit, ingest, consent changes), whatever user/ or system/ scopes it also holds: the
 * routes that admit it confine it to its patient in the access layer.
 * The verified principal is set on `event.principal`.
 */
export function authenticated(options: AuthenticatedOptions): MiddlewareObj<AuthenticatedEvent> {
  if (typeof options.verifier !== 'function') {
    throw new ConfigError('authenticated: verifier must be a function returning a TokenVerifier');
  }
  if (options.anyOf.length === 0) {
    throw new ConfigError('authenticated: anyOf must name at least one scope');
  }
  const unparseable = options.anyOf.filter((scope) => parseScope(scope) === undefined);
  if (unparseable.length > 0) {
    throw new ConfigError(`authenticated: not SMART scopes: ${unparseable.join(', ')}`);
  }
  const anyOf = [...options.anyOf];
  // Routes that confine a launch context to its patient are those a patient/ scope opens.
  const servesLaunchContext = anyOf.some((scope) => parseScope(scope)?.context === 'patient');
  return {
    name: 'authenticated',
    before: async (request) => {
      const token = bearerToken(request.event);
      const principal = await options.verifier().verify(token);
      // Set before the scope checks: the handler never runs on a 403, but the rate limit's
      // onError charges a refused request to its tenant (lib/api/rateLimit.ts).
      request.event.principal = principal;
      if (!satisfiesAny(principal.scopes, anyOf)) {
        // The principal's own scopes stay out of the message: the client knows them already.
        throw new ForbiddenError(`requires one of the scopes: ${anyOf.join(', ')}`);
      }
      if (principal.patient !== undefined && !servesLaunchContext) {
        // Whatever else it holds, a token launched for one patient reads that patient only.
        throw new ForbiddenError(
          'a token with a patient launch context may only read its patient; this route is not open to it',
        );
      }
    },
  };
}

/** The principal the middleware verified; a handler without the middleware fails closed. */
export function principalOf(event: AuthenticatedEvent): Principal {
  if (event.principal === undefined) {
    throw new UnauthorizedError('the request is not authenticated');
  }
  return event.principal;
}
