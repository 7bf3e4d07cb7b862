import { apiHandler } from '../../lib/api/apiHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { readRun } from '../../lib/api/runQueries.ts';
import { RunNotFoundError } from '../../lib/errors.ts';
import { jsonResponse } from '../../lib/http/problem.ts';
import { isUuid } from '../../lib/ids.ts';
import { pipelineDependencies } from '../../lib/runtime.ts';

/** GET /api/v1/runs/{runId}: status, current stage, per-stage timings and counts. */
export const handler = apiHandler(ROUTES.getRun, async (event) => {
  const runId = event.pathParameters?.['runId'];
  const run = isUuid(runId) ? await readRun(pipelineDependencies().pool, runId) : undefined;
  if (run === undefined) throw new RunNotFoundError(isUuid(runId) ? runId : 'requested');
  return jsonResponse(200, run);
});
