import { apiHandler } from '../../lib/api/apiHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { capabilityStatement } from '../../lib/fhir/r4/capability.ts';
import { mountUrl } from '../../lib/http/baseUrl.ts';
import { fhirResponse } from '../../lib/http/problem.ts';

/** GET /fhir/r4/metadata: the CapabilityStatement, public, without touching the database. */
export const handler = apiHandler(ROUTES.getFhirMetadata, async (event) =>
  fhirResponse(200, capabilityStatement(mountUrl(event, '/fhir/r4'))),
);
