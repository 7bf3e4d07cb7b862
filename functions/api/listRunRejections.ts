import { apiHandler } from '../../lib/api/apiHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { readRunRejections } from '../../lib/api/runQueries.ts';
import { principalOf } from '../../lib/auth/middleware.ts';
import { jsonResponse } from '../../lib/http/problem.ts';
import { pipelineDependencies } from '../../lib/runtime.ts';

/** GET /api/v1/runs/{runId}/rejections: each rejected record's position, reason and schema paths. */
export const handler = apiHandler(ROUTES.listRunRejections, async (event) => {
  const runId = event.pathParameters?.['runId'];
  const rejections = await readRunRejections(
    pipelineDependencies().pool,
    runId,
    principalOf(event),
  );
  return jsonResponse(200, rejections);
});
