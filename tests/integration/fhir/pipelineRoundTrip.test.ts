import { describe, expect, it } from 'vitest';
import { listAudit } from '../../../lib/db/repositories/auditLog.ts';
import { readFhirPatient, searchFhirResources } from '../../../lib/patients/fhirAccess.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import {
  consentFor,
  type FhirJson,
  ndjson,
  patientResource,
  syntheaResources,
} from '../../helpers/fhir.ts';
import { flatRecord, useTestPipeline } from '../../helpers/pipeline.ts';

const NDJSON = 'application/fhir+ndjson';
/** The patient Observation.sample.ndjson refers to. */
const SAMPLE_SUBJECT_ID = '0bee1bc6-1a91-bcd5-7bc0-02fadc5217d6';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A resource without what the API replaces: the sender's id, meta and subject. */
function sentContent(resource: FhirJson): string {
  const { id: _id, meta, subject: _subject, ...content } = resource;
  const { lastUpdated: _lastUpdated, ...kept } = (meta ?? {}) as Record<string, unknown>;
  return JSON.stringify({ ...content, meta: kept });
}

describe('FHIR R4 reads of what the real pipeline stored', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);

  async function storedPatientOf(runId: string): Promise<string> {
    const { rows } = await database.pool.query<{ id: string }>(
      'SELECT id FROM patients WHERE created_run_id = $1',
      [runId],
    );
    expect(rows).toHaveLength(1);
    return rows[0]!.id;
  }

  it('returns the NDJSON Patient and Observations as sent, under our ids', async () => {
    // Prepare
    const patient = patientResource(SAMPLE_SUBJECT_ID, 'MRN-ROUNDTRIP-1', 'Roundtrip');
    const observations = syntheaResources('Observation.sample.ndjson');
    const { runId, execution } = await pipeline.ingestBody(
      ndjson([patient, consentFor(`Patient/${SAMPLE_SUBJECT_ID}`), ...observations]),
      NDJSON,
    );
    expect(execution.status).toBe('SUCCEEDED');
    const id = await storedPatientOf(runId);

    // Act
    const read = await readFhirPatient(pipeline.deps, 'user:roundtrip', id);
    const page = await searchFhirResources(
      pipeline.deps,
      { subject: 'user:roundtrip', scopes: ['user/Observation.s'] },
      'Observation',
      { patient: id },
    );

    // Assess
    const { id: _senderId, ...sentPatient } = patient;
    expect(read).toStrictEqual({
      ...sentPatient,
      id,
      meta: { lastUpdated: expect.any(String) },
    });
    expect(page.total).toBe(observations.length);
    expect(page.next).toBeNull();
    for (const resource of page.resources) {
      expect(resource['id']).toMatch(UUID);
      expect(resource['subject']).toStrictEqual({ reference: `Patient/${id}` });
      expect(Number.isNaN(Date.parse(String((resource['meta'] as FhirJson)['lastUpdated'])))).toBe(
        false,
      );
    }
    expect(page.resources.map((resource) => sentContent(resource as FhirJson)).sort()).toEqual(
      observations.map(sentContent).sort(),
    );
    // The patient's audit trail holds each Observation's creation and each read of it.
    const trail = await listAudit(database.pool, { patientId: id }, 'asc', 1_000);
    const observationRows = trail.filter((row) => row.resourceType === 'Observation');
    const observationIds = page.resources.map((resource) => resource['id']).sort();
    for (const action of ['CREATE', 'READ'] as const) {
      const ids = observationRows
        .filter((row) => row.action === action)
        .map((row) => row.resourceId);
      expect(ids.sort(), action).toEqual(observationIds);
    }
  });

  it('returns a flat record as an R4 Patient without its consent object', async () => {
    // Prepare
    const record = flatRecord({ mrn: 'MRN-ROUNDTRIP-FLAT', name: 'Flat Roundtrip' });
    const { runId } = await pipeline.ingest([record]);
    const id = await storedPatientOf(runId);

    // Act
    const read = await readFhirPatient(pipeline.deps, 'user:roundtrip-flat', id);

    // Assess
    expect(read).toMatchObject({
      resourceType: 'Patient',
      id,
      identifier: [{ value: 'MRN-ROUNDTRIP-FLAT' }, { value: record['ssn'] }],
      name: [{ text: 'Flat Roundtrip' }],
      gender: record['gender'],
      birthDate: record['birthDate'],
    });
    expect(JSON.stringify(read)).not.toContain('data_sharing');
  });
});
