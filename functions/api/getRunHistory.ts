import { apiHandler } from '../../lib/api/apiHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { readRunHistory } from '../../lib/api/runHistory.ts';
import { principalOf } from '../../lib/auth/middleware.ts';
import { jsonResponse } from '../../lib/http/problem.ts';
import { intakeDependencies } from '../../lib/runtime.ts';

/** GET /api/v1/runs/{runId}/history: its executions' events, without inputs or outputs. */
export const handler = apiHandler(ROUTES.getRunHistory, async (event) => {
  const runId = event.pathParameters?.['runId'];
  const history = await readRunHistory(intakeDependencies(), runId, principalOf(event));
  const { events, olderAttemptsOmitted, truncatedAttempts } = history;
  return jsonResponse(200, { data: events, olderAttemptsOmitted, truncatedAttempts });
});
