import { createHash } from 'node:crypto';
import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { AuthenticatedEvent } from '../auth/middleware.ts';
import type { Config } from '../config.ts';
import type { Queryable } from '../db/pool.ts';
import { TooManyRequestsError } from '../errors.ts';
import { headerValue } from '../http/body.ts';

/** Takes one request from the bucket of this bearer token; 429 with Retry-After when it is empty. */
export async function takeRequest(
  db: Queryable,
  bearer: string,
  settings: Config['rateLimit'],
): Promise<void> {
  // The bucket is named by the token's hash: the token itself is never stored.
  const bucket = `token:${createHash('sha256').update(bearer).digest('base64url')}`;
  const { rows } = await db.query<{ wait: number }>('SELECT rate_limit_take($1, $2, $3) AS wait', [
    bucket,
    settings.burst,
    settings.perMinute / 60,
  ]);
  const wait = rows[0]?.wait ?? 0;
  if (wait > 0) throw new TooManyRequestsError(Math.max(1, Math.ceil(wait)));
}

/** After authentication: the per-token request rate, shared by every instance through PostgreSQL. */
export function rateLimited(options: {
  readonly db: () => Queryable;
  readonly settings: () => Config['rateLimit'];
}): MiddlewareObj<AuthenticatedEvent, APIGatewayProxyStructuredResultV2> {
  return {
    name: 'rateLimited',
    before: async (request) => {
      const bearer = headerValue(request.event, 'authorization') ?? '';
      await takeRequest(options.db(), bearer, options.settings());
    },
  };
}
