import { apiHandler } from '../../lib/api/apiHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { jsonResponse } from '../../lib/http/problem.ts';

/** GET /health: liveness, without touching the database, so it reports the function itself. */
export const handler = apiHandler(ROUTES.getHealth, async () =>
  jsonResponse(200, { status: 'ok' }),
);
