import { apiHandler } from '../../lib/api/apiHandler.ts';
import { NotFoundError } from '../../lib/errors.ts';
import { docsAssetResponse, docsPageResponse } from '../../lib/http/docs.ts';

/** GET /docs and /docs/assets/{asset}: Swagger UI from swagger-ui-dist, served offline. */
export const handler = apiHandler({ anyOf: 'public' }, async (event) => {
  const asset = event.pathParameters?.['asset'];
  if (asset === undefined) return docsPageResponse('/openapi.json');
  const response = docsAssetResponse(asset);
  if (response === undefined) throw new NotFoundError('no such asset');
  return response;
});
