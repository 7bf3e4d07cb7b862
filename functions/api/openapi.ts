import { apiHandler } from '../../lib/api/apiHandler.ts';
import { buildOpenApiDocument } from '../../lib/api/openapi.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { publicSettings } from '../../lib/config.ts';
import { jsonResponse } from '../../lib/http/problem.ts';

const document = buildOpenApiDocument({
  maxRecordsPerBatch: publicSettings(process.env).ingest.maxRecordsPerBatch,
});

/** GET /openapi.json: OpenAPI 3.1, built from the same JSON Schemas the validators compile. */
export const handler = apiHandler(ROUTES.getOpenApiDocument, async () =>
  jsonResponse(200, document),
);
