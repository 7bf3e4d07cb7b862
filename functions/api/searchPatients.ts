import { apiHandler } from '../../lib/api/apiHandler.ts';
import { ROUTES } from '../../lib/api/routes.ts';
import { principalOf } from '../../lib/auth/middleware.ts';
import { InputValidationError } from '../../lib/errors.ts';
import { jsonResponse } from '../../lib/http/problem.ts';
import { findPatientsByMrn } from '../../lib/patients/patientAccess.ts';
import { pipelineDependencies } from '../../lib/runtime.ts';

/**
 * GET /api/v1/patients?mrn=: look-up by the MRN's blind index; a patient who refused answers
 * `{ data: [] }` like an MRN not on file (no existence oracle), audited as a denial.
 */
export const handler = apiHandler(ROUTES.searchPatients, async (event) => {
  const mrn = event.queryStringParameters?.['mrn'];
  if (mrn === undefined || mrn === '') {
    throw new InputValidationError('the mrn query parameter is required', [
      { path: '/mrn', keyword: 'required', message: 'is required: mrn' },
    ]);
  }
  const data = await findPatientsByMrn(pipelineDependencies(), principalOf(event), mrn);
  return jsonResponse(200, { data });
});
