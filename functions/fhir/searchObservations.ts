import { fhirSearchHandler } from '../../lib/api/fhirSearchHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';

/**
 * GET /fhir/r4/Observation?patient={id}: as GET /fhir/r4/{type} for Observation, under the
 * scope this route always took (`user/Observation.s`).
 */
export const handler = fhirSearchHandler(ROUTES.searchFhirObservations, () => 'Observation');
