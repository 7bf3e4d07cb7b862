import { apiHandler } from '../../lib/api/apiHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { RunNotFoundError } from '../../lib/errors.ts';
import { jsonResponse } from '../../lib/http/problem.ts';
import { isUuid } from '../../lib/ids.ts';
import { redriveRun } from '../../lib/pipeline/runExecutions.ts';
import { intakeDependencies } from '../../lib/runtime.ts';

/** POST /api/v1/runs/{runId}/redrive: run a failed run again from where it failed. */
export const handler = apiHandler(ROUTES.redriveRun, async (event) => {
  const runId = event.pathParameters?.['runId'];
  if (!isUuid(runId)) throw new RunNotFoundError('requested');
  const { attempt } = await redriveRun(intakeDependencies(), runId);
  const self = `/api/v1/runs/${runId}`;
  return jsonResponse(
    202,
    { runId, status: 'running', attempt, links: { self } },
    { location: self },
  );
});
