import { apiHandler } from '../../lib/api/apiHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { NotFoundError } from '../../lib/errors.ts';

/** API Gateway's default route: whatever no route matches is a problem+json 404, the path unnamed. */
export const handler = apiHandler(ROUTES.routeNotFound, async () => {
  throw new NotFoundError('no such route');
});
