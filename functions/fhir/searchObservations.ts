import { apiHandler } from '../../lib/api/apiHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { principalOf } from '../../lib/auth/middleware.ts';
import { searchsetBundle } from '../../lib/fhir/r4/resources.ts';
import { observationSearchUrl, parseObservationSearch } from '../../lib/fhir/r4/search.ts';
import { mountUrl } from '../../lib/http/baseUrl.ts';
import { fhirResponse } from '../../lib/http/problem.ts';
import { searchObservations } from '../../lib/patients/fhirAccess.ts';
import { pipelineDependencies } from '../../lib/runtime.ts';

/**
 * GET /fhir/r4/Observation?patient={id}: a searchset Bundle of one patient's observations, a
 * page at a time, with the patient's consent; every Observation returned is audited.
 */
export const handler = apiHandler(ROUTES.searchFhirObservations, async (event) => {
  const search = parseObservationSearch(event.queryStringParameters ?? {});
  const page = await searchObservations(pipelineDependencies(), principalOf(event).subject, search);
  const base = mountUrl(event, '/fhir/r4');
  return fhirResponse(
    200,
    searchsetBundle({
      base,
      total: page.total,
      selfUrl: observationSearchUrl(base, search),
      nextUrl: page.next === null ? null : observationSearchUrl(base, search, page.next),
      resources: page.resources,
    }),
  );
});
