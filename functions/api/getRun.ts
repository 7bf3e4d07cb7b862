import { apiHandler } from '../../lib/api/apiHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { readRun } from '../../lib/api/runQueries.ts';
import { principalOf } from '../../lib/auth/middleware.ts';
import { jsonResponse } from '../../lib/http/problem.ts';
import { pipelineDependencies } from '../../lib/runtime.ts';

/** GET /api/v1/runs/{runId}: status, current stage, per-stage timings and counts of the caller's run. */
export const handler = apiHandler(ROUTES.getRun, async (event) => {
  const runId = event.pathParameters?.['runId'];
  const run = await readRun(pipelineDependencies().pool, runId, principalOf(event));
  return jsonResponse(200, run);
});
