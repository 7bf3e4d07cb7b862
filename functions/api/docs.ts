import { apiHandler } from '../../lib/api/apiHandler.ts';
import { docsAssetResponse, docsPageResponse } from '../../lib/api/docs.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { NotFoundError } from '../../lib/errors.ts';

/** GET /docs and /docs/assets/{asset}: Swagger UI from swagger-ui-dist, served offline. */
export const handler = apiHandler(ROUTES.getApiDocs, async (event) => {
  const asset = event.pathParameters?.['asset'];
  if (asset === undefined) return docsPageResponse('/openapi.json');
  const response = docsAssetResponse(asset);
  if (response === undefined) throw new NotFoundError('no such asset');
  return response;
});
