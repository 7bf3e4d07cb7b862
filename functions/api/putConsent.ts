import { apiHandler } from '../../lib/api/apiHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { principalOf } from '../../lib/auth/middleware.ts';
import { readBody } from '../../lib/http/body.ts';
import { jsonResponse } from '../../lib/http/problem.ts';
import { parseJson } from '../../lib/json.ts';
import { changeConsent } from '../../lib/patients/consentChanges.ts';
import { pipelineDependencies } from '../../lib/runtime.ts';

/** PUT /api/v1/patients/{id}/consent: grant or revoke; kept in history, audited, read next time. */
export const handler = apiHandler(ROUTES.changeConsent, async (event) => {
  const { raw } = readBody(event, { maxBytes: 16 * 1024, accept: ['application/json'] });
  const consent = await changeConsent(
    pipelineDependencies(),
    principalOf(event).subject,
    event.pathParameters?.['id'] ?? '',
    parseJson(raw),
  );
  return jsonResponse(200, consent);
});
