import { apiHandler } from '../../lib/api/apiHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { visibleRun } from '../../lib/api/runQueries.ts';
import { principalOf } from '../../lib/auth/middleware.ts';
import { jsonResponse } from '../../lib/http/problem.ts';
import { redriveRun } from '../../lib/pipeline/runExecutions.ts';
import { intakeDependencies } from '../../lib/runtime.ts';

/** POST /api/v1/runs/{runId}/redrive: run a failed run again from where it failed (the caller's, or any for the operator). */
export const handler = apiHandler(ROUTES.redriveRun, async (event) => {
  const deps = intakeDependencies();
  const run = await visibleRun(deps.pool, event.pathParameters?.['runId'], principalOf(event));
  const { attempt } = await redriveRun(deps, run.id);
  const self = `/api/v1/runs/${run.id}`;
  return jsonResponse(
    202,
    { runId: run.id, status: 'running', attempt, links: { self } },
    { location: self },
  );
});
