import { fhirSearchHandler } from '../../lib/api/fhirSearchHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';

/**
 * GET /fhir/r4/{type}?patient={id}: a searchset Bundle of one patient's resources of a
 * patient-data type, a page at a time, with the patient's consent; every resource audited.
 */
export const handler = fhirSearchHandler(
  ROUTES.searchFhirResources,
  (event) => event.pathParameters?.['type'] ?? '',
);
