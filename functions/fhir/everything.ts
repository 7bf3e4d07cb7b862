import { apiHandler } from '../../lib/api/apiHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { principalOf } from '../../lib/auth/middleware.ts';
import { searchsetBundle } from '../../lib/fhir/r4/resources.ts';
import { everythingUrl, parseEverything } from '../../lib/fhir/r4/search.ts';
import { mountUrl } from '../../lib/http/baseUrl.ts';
import { fhirResponse } from '../../lib/http/problem.ts';
import { readPatientEverything } from '../../lib/patients/fhirAccess.ts';
import { pipelineDependencies } from '../../lib/runtime.ts';

/**
 * GET /fhir/r4/Patient/{id}/$everything: the patient and their compartment, of the types the
 * token may read, with the shared resources they reference; consent-gated, each one audited.
 */
export const handler = apiHandler(ROUTES.readFhirPatientEverything, async (event) => {
  const search = parseEverything(event.queryStringParameters ?? {});
  const page = await readPatientEverything(
    pipelineDependencies(),
    principalOf(event),
    event.pathParameters?.['id'] ?? '',
    search,
  );
  const base = mountUrl(event, '/fhir/r4');
  return fhirResponse(
    200,
    searchsetBundle({
      base,
      total: page.total,
      selfUrl: everythingUrl(base, page.patientId, search),
      nextUrl: page.next === null ? null : everythingUrl(base, page.patientId, search, page.next),
      resources: page.resources,
      included: page.included,
    }),
  );
});
