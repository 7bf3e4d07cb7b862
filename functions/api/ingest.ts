import { apiHandler } from '../../lib/api/apiHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { principalOf } from '../../lib/auth/middleware.ts';
import { headerValue, readBody } from '../../lib/http/body.ts';
import { jsonResponse } from '../../lib/http/problem.ts';
import { MAX_INGEST_BODY_BYTES } from '../../lib/mediaTypes.ts';
import { INGEST_MEDIA_TYPES } from '../../lib/pipeline/envelopes.ts';
import { submitBatch } from '../../lib/pipeline/intake.ts';
import { intakeDependencies } from '../../lib/runtime.ts';

/** POST /api/v1/ingest: accept a batch (flat, FHIR Bundle or NDJSON), 202 with the run that will process it. */
export const handler = apiHandler(ROUTES.ingestBatch, async (event) => {
  const { raw, contentType } = readBody(event, {
    maxBytes: MAX_INGEST_BODY_BYTES,
    accept: INGEST_MEDIA_TYPES,
  });
  const idempotencyKey = headerValue(event, 'idempotency-key');
  const deps = intakeDependencies();
  const { runId, outcome, status } = await submitBatch(deps, {
    raw,
    contentType,
    actor: principalOf(event).subject,
    source: 'api',
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
  });
  // A retry answers with the key's run as it is now, and what the retry did to it.
  const self = `/api/v1/runs/${runId}`;
  return jsonResponse(202, { runId, status, outcome, links: { self } }, { location: self });
});
