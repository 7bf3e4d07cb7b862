import { apiHandler } from '../../lib/api/apiHandler.ts';
import { jsonResponse } from '../../lib/http/problem.ts';

/** GET /health: liveness, without touching the database, so it reports the function itself. */
export const handler = apiHandler({ anyOf: 'public' }, async () =>
  jsonResponse(200, { status: 'ok' }),
);
