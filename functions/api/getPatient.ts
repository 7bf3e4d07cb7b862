import { apiHandler } from '../../lib/api/apiHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { principalOf } from '../../lib/auth/middleware.ts';
import { jsonResponse } from '../../lib/http/problem.ts';
import { readPatient } from '../../lib/patients/patientAccess.ts';
import { pipelineDependencies } from '../../lib/runtime.ts';

/** GET /api/v1/patients/{id}: the decrypted patient, only with data-sharing consent; audited. */
export const handler = apiHandler(ROUTES.getPatient, async (event) => {
  const patient = await readPatient(
    pipelineDependencies(),
    principalOf(event),
    event.pathParameters?.['id'] ?? '',
  );
  return jsonResponse(200, patient);
});
