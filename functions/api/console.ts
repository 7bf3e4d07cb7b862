import { apiHandler } from '../../lib/api/apiHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { consoleAssets, consolePageResponse } from '../../lib/console/consolePage.ts';
import { NotFoundError } from '../../lib/errors.ts';

// Resolved from this file, which sits at functions/api/ in the sources and in the deployed package alike.
const assetResponse = consoleAssets(new URL('../../console/dist/', import.meta.url));

/** GET /console and /console/assets/{asset}: the runs console, a static page and its bundle. */
export const handler = apiHandler(ROUTES.getConsole, async (event) => {
  const asset = event.pathParameters?.['asset'];
  if (asset === undefined) return consolePageResponse();
  const response = assetResponse(asset);
  if (response === undefined) throw new NotFoundError('no such asset');
  return response;
});
