import { apiHandler } from '../../lib/api/apiHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { rejectionView } from '../../lib/api/runViews.ts';
import { findIngestRun } from '../../lib/db/repositories/ingestRuns.ts';
import { listRejections } from '../../lib/db/repositories/rejections.ts';
import { RunNotFoundError } from '../../lib/errors.ts';
import { jsonResponse } from '../../lib/http/problem.ts';
import { isUuid } from '../../lib/ids.ts';
import { pipelineDependencies } from '../../lib/runtime.ts';

/** GET /api/v1/runs/{runId}/rejections: each rejected record's position, reason and schema paths. */
export const handler = apiHandler(ROUTES.listRunRejections, async (event) => {
  const runId = event.pathParameters?.['runId'];
  const { pool } = pipelineDependencies();
  const run = isUuid(runId) ? await findIngestRun(pool, runId) : undefined;
  if (run === undefined) throw new RunNotFoundError(isUuid(runId) ? runId : 'requested');
  const rejections = await listRejections(pool, run.id);
  return jsonResponse(200, { runId: run.id, data: rejections.map(rejectionView) });
});
