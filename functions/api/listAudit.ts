import { apiHandler } from '../../lib/api/apiHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { queryAudit } from '../../lib/audit/auditQueries.ts';
import { principalOf } from '../../lib/auth/middleware.ts';
import { jsonResponse } from '../../lib/http/problem.ts';
import { pipelineDependencies } from '../../lib/runtime.ts';

/** GET /api/v1/audit: entries by patient, actor, action and time, oldest or newest first, a page at a time (cursor). */
export const handler = apiHandler(ROUTES.listAudit, async (event) => {
  const page = await queryAudit(
    pipelineDependencies(),
    principalOf(event).subject,
    event.queryStringParameters ?? {},
  );
  const next =
    page.nextCursor === null
      ? null
      : `/api/v1/audit?${new URLSearchParams({ ...event.queryStringParameters, cursor: page.nextCursor })}`;
  return jsonResponse(200, { data: page.data, links: { next } });
});
