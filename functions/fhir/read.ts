import { apiHandler } from '../../lib/api/apiHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { principalOf } from '../../lib/auth/middleware.ts';
import { fhirResponse } from '../../lib/http/problem.ts';
import { readFhirResource } from '../../lib/patients/fhirAccess.ts';
import { pipelineDependencies } from '../../lib/runtime.ts';

/**
 * GET /fhir/r4/{type}/{id}: any stored resource as sent, under our ids; patient data only with
 * its patient's consent; audited.
 */
export const handler = apiHandler(ROUTES.readFhirResource, async (event) => {
  const resource = await readFhirResource(
    pipelineDependencies(),
    principalOf(event),
    event.pathParameters?.['type'] ?? '',
    event.pathParameters?.['id'] ?? '',
  );
  return fhirResponse(200, resource);
});
