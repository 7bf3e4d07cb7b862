import middy, { type MiddyfiedHandler } from '@middy/core';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { type AuthenticatedEvent, authenticated } from '../auth/middleware.ts';
import { config } from '../config.ts';
import { httpErrors } from '../http/middleware.ts';
import { pipelineDependencies, processLogger, tokenVerifier } from '../runtime.ts';
import { authenticationFailuresLimited, rateLimited } from './rateLimit.ts';
import { type Route, routeKeyOf } from './routes.ts';

export type ApiHandler = MiddyfiedHandler<AuthenticatedEvent, APIGatewayProxyStructuredResultV2>;

/**
 * An HTTP API function serving `route` (its entry in ROUTES): errors become problem+json or
 * OperationOutcome (registered first, so its onError also sees authentication and rate-limit
 * failures) and each request one access line, then failed authentications limited by source
 * address, the bearer token and scopes, the tenant's request rate, then the handler.
 */
export function apiHandler(
  route: Pick<Route, 'method' | 'path' | 'anyOf' | 'errors'>,
  handle: (event: AuthenticatedEvent) => Promise<APIGatewayProxyStructuredResultV2>,
): ApiHandler {
  const handler = middy<AuthenticatedEvent, APIGatewayProxyStructuredResultV2>().use(
    httpErrors({ logger: processLogger(), format: route.errors, route: routeKeyOf(route) }),
  );
  if (route.anyOf !== 'public') {
    const limits = {
      db: () => pipelineDependencies().pool,
      settings: () => config().rateLimit,
    };
    handler
      .use(authenticationFailuresLimited(limits))
      .use(authenticated({ verifier: tokenVerifier, anyOf: route.anyOf }))
      .use(rateLimited(limits));
  }
  return handler.handler(handle);
}
