import { apiHandler } from '../../lib/api/apiHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { queryRuns } from '../../lib/api/runQueries.ts';
import { principalOf } from '../../lib/auth/middleware.ts';
import { jsonResponse } from '../../lib/http/problem.ts';
import { pipelineDependencies } from '../../lib/runtime.ts';

/** GET /api/v1/runs: the caller's runs newest first, by status, source and creation time, a page at a time (cursor). */
export const handler = apiHandler(ROUTES.listRuns, async (event) => {
  const query = event.queryStringParameters ?? {};
  const page = await queryRuns(pipelineDependencies().pool, query, principalOf(event));
  const next =
    page.nextCursor === null
      ? null
      : `/api/v1/runs?${new URLSearchParams({ ...query, cursor: page.nextCursor })}`;
  return jsonResponse(200, { data: page.data, links: { next } });
});
