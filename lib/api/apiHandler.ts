import middy, { type MiddyfiedHandler } from '@middy/core';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { type AuthenticatedEvent, authenticated } from '../auth/middleware.ts';
import { config } from '../config.ts';
import { httpErrors } from '../http/middleware.ts';
import type { ErrorFormat } from '../http/problem.ts';
import { pipelineDependencies, processLogger, tokenVerifier } from '../runtime.ts';
import { rateLimited } from './rateLimit.ts';

export type ApiHandler = MiddyfiedHandler<AuthenticatedEvent, APIGatewayProxyStructuredResultV2>;

export interface ApiHandlerOptions {
  readonly anyOf: readonly string[] | 'public';
  /** `operation-outcome` on the FHIR routes; problem+json otherwise. */
  readonly errors?: ErrorFormat;
}

/**
 * An HTTP API function: errors become problem+json or OperationOutcome (registered first, so
 * its onError also sees authentication and rate-limit failures), then the bearer token and
 * scopes, the token's request rate, then the handler.
 */
export function apiHandler(
  options: ApiHandlerOptions,
  handle: (event: AuthenticatedEvent) => Promise<APIGatewayProxyStructuredResultV2>,
): ApiHandler {
  const handler = middy<AuthenticatedEvent, APIGatewayProxyStructuredResultV2>().use(
    httpErrors({
      logger: processLogger(),
      ...(options.errors === undefined ? {} : { format: options.errors }),
    }),
  );
  if (options.anyOf !== 'public') {
    handler
      .use(authenticated({ verifier: tokenVerifier, anyOf: options.anyOf }))
      .use(
        rateLimited({ db: () => pipelineDependencies().pool, settings: () => config().rateLimit }),
      );
  }
  return handler.handler(handle);
}
