/**
 * The handler of a FHIR search route: the literal `GET /fhir/r4/Observation` and the generic
 * `GET /fhir/r4/{type}` answer alike, each with its own route's scopes.
 */
import type { AuthenticatedEvent } from '../auth/middleware.ts';
import { principalOf } from '../auth/middleware.ts';
import { searchsetBundle } from '../fhir/r4/resources.ts';
import { resourceSearchUrl } from '../fhir/r4/search.ts';
import { mountUrl } from '../http/baseUrl.ts';
import { fhirResponse } from '../http/problem.ts';
import { searchFhirResources } from '../patients/fhirAccess.ts';
import { pipelineDependencies } from '../runtime.ts';
import { type ApiHandler, apiHandler } from './apiHandler.ts';
import type { Route } from './routes.ts';

export function fhirSearchHandler(
  route: Pick<Route, 'method' | 'path' | 'anyOf' | 'errors'>,
  resourceTypeOf: (event: AuthenticatedEvent) => string,
): ApiHandler {
  return apiHandler(route, async (event) => {
    const page = await searchFhirResources(
      pipelineDependencies(),
      principalOf(event),
      resourceTypeOf(event),
      event.queryStringParameters ?? {},
    );
    const base = mountUrl(event, '/fhir/r4');
    return fhirResponse(
      200,
      searchsetBundle({
        base,
        total: page.total,
        selfUrl: resourceSearchUrl(base, page.search),
        nextUrl: page.next === null ? null : resourceSearchUrl(base, page.search, page.next),
        resources: page.resources,
      }),
    );
  });
}
