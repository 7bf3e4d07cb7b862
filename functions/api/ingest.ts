import { apiHandler } from '../../lib/api/apiHandler.ts';
import { principalOf } from '../../lib/auth/middleware.ts';
import { parseJson, readBody } from '../../lib/http/body.ts';
import { jsonResponse } from '../../lib/http/problem.ts';
import { submitBatch } from '../../lib/pipeline/intake.ts';
import { intakeDependencies } from '../../lib/runtime.ts';

/** API Gateway's own payload limit: a larger body never reaches a Lambda in AWS. */
const MAX_BODY_BYTES = 6 * 1024 * 1024;

/** POST /api/v1/ingest: accept a batch, 202 with the run that will process it. */
export const handler = apiHandler({ anyOf: ['system/Patient.c'] }, async (event) => {
  const { raw, contentType } = readBody(event, {
    maxBytes: MAX_BODY_BYTES,
    accept: ['application/json'],
  });
  const { runId } = await submitBatch(intakeDependencies(), {
    raw,
    parsed: parseJson(raw),
    contentType,
    actor: principalOf(event).subject,
    source: 'api',
  });
  const self = `/api/v1/runs/${runId}`;
  return jsonResponse(202, { runId, status: 'queued', links: { self } }, { location: self });
});
