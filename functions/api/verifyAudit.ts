import { apiHandler } from '../../lib/api/apiHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { verifyAudit } from '../../lib/audit/auditQueries.ts';
import { principalOf } from '../../lib/auth/middleware.ts';
import { jsonResponse } from '../../lib/http/problem.ts';
import { pipelineDependencies } from '../../lib/runtime.ts';

/**
 * GET /api/v1/audit/verify: walks the hash chain (all of it, or from the latest checkpoint with
 * `from=checkpoint`), holds it to its seals and the latest checkpoint, and reports each problem.
 */
export const handler = apiHandler(ROUTES.verifyAudit, async (event) =>
  jsonResponse(
    200,
    await verifyAudit(
      pipelineDependencies(),
      principalOf(event).subject,
      event.queryStringParameters ?? {},
    ),
  ),
);
