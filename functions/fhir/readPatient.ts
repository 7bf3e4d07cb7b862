import { apiHandler } from '../../lib/api/apiHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { principalOf } from '../../lib/auth/middleware.ts';
import { fhirResponse } from '../../lib/http/problem.ts';
import { readFhirPatient } from '../../lib/patients/fhirAccess.ts';
import { pipelineDependencies } from '../../lib/runtime.ts';

/** GET /fhir/r4/Patient/{id}: the patient as a FHIR R4 Patient, with consent; audited. */
export const handler = apiHandler(ROUTES.readFhirPatient, async (event) => {
  const patient = await readFhirPatient(
    pipelineDependencies(),
    principalOf(event),
    event.pathParameters?.['id'] ?? '',
  );
  return fhirResponse(200, patient);
});
