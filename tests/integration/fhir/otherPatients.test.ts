/**
 * A resource of one patient that names another patient, or the other patient's data, shows our
 * ids of them only while that other patient shares data.
 */
import { describe, expect, it } from 'vitest';
import { findIngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import { changeConsent } from '../../../lib/patients/consentChanges.ts';
import { type FhirReader, readFhirResource } from '../../../lib/patients/fhirAccess.ts';
import { findPatientsByMrn } from '../../../lib/patients/patientAccess.ts';
import { resourceIdOf } from '../../../lib/pipeline/resourceIdentity.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { consentFor, ndjson, patientResource } from '../../helpers/fhir.ts';
import { useTestPipeline } from '../../helpers/pipeline.ts';

const SENDER = 'system:two-patients';
const READER: FhirReader = {
  subject: 'user:other-patients',
  scopes: ['user/Patient.r', 'user/*.rs'],
};

describe('references to another patient on read', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);

  it('are rewritten to our ids while that patient shares data, and left as sent once they revoke', async () => {
    // Prepare
    const { runId } = await pipeline.ingestBody(
      ndjson([
        patientResource('pat-a', 'MRN-OTHER-A', 'Alpha'),
        consentFor('Patient/pat-a'),
        patientResource('pat-b', 'MRN-OTHER-B', 'Beta'),
        consentFor('Patient/pat-b'),
        {
          resourceType: 'Encounter',
          id: 'enc-b',
          status: 'finished',
          class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
          subject: { reference: 'Patient/pat-b' },
        },
        {
          resourceType: 'Observation',
          id: 'obs-a',
          status: 'final',
          code: { text: 'seen with' },
          subject: { reference: 'Patient/pat-a' },
          performer: [{ reference: 'Patient/pat-b' }],
          focus: [{ reference: 'Encounter/enc-b' }],
        },
      ]),
      'application/fhir+ndjson',
      SENDER,
    );
    expect((await findIngestRun(database.pool, runId))?.counts).toMatchObject({
      'Observation.created': 1,
      'Encounter.created': 1,
    });
    const [b] = await findPatientsByMrn(pipeline.deps, 'system:test', 'MRN-OTHER-B');
    if (b === undefined) throw new Error('patient B did not load');
    const indexKey = await pipeline.deps.keyring.blindIndexKeyObject(database.pool);
    const observationId = resourceIdOf(indexKey, SENDER, 'Observation/obs-a');
    const encounterB = resourceIdOf(indexKey, SENDER, 'Encounter/enc-b');

    // Act
    const before = await readFhirResource(pipeline.deps, READER, 'Observation', observationId);
    await changeConsent(pipeline.deps, 'user:steward', b.id, {
      data_sharing: false,
      source: 'patient-portal',
    });
    const after = await readFhirResource(pipeline.deps, READER, 'Observation', observationId);

    // Assess
    expect(before['performer']).toEqual([{ reference: `Patient/${b.id}` }]);
    expect(before['focus']).toEqual([{ reference: `Encounter/${encounterB}` }]);
    expect(after['performer']).toEqual([{ reference: 'Patient/pat-b' }]);
    expect(after['focus']).toEqual([{ reference: 'Encounter/enc-b' }]);
    expect(JSON.stringify(after)).not.toContain(b.id);
    expect(JSON.stringify(after)).not.toContain(encounterB);
  });
});
