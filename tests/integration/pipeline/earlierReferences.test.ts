/**
 * Rows written before references were kept per sender (migration 1764000008000) are under the
 * blind index of the key alone. The same sender's are still found: a refusal that waited for its
 * patient still decides, and a patient stored then is still named by `Patient/<id>`.
 */
import { describe, expect, it } from 'vitest';
import { blindIndex } from '../../../lib/crypto/blindIndex.ts';
import { listRejections } from '../../../lib/db/repositories/rejections.ts';
import { findPatientsByMrn } from '../../../lib/patients/patientAccess.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { consentFor, ndjson, patientResource } from '../../helpers/fhir.ts';
import { useTestPipeline } from '../../helpers/pipeline.ts';

const SENDER = 'system:before-the-upgrade';
const NDJSON = 'application/fhir+ndjson';

describe('references written before they were kept per sender', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);

  async function earlierIndex(key: string): Promise<Buffer> {
    const indexKey = await pipeline.deps.keyring.blindIndexKeyObject(database.pool);
    return blindIndex(indexKey, 'reference', key);
  }

  it('a refusal that waited for its patient under the earlier index still wins over an older permit', async () => {
    // Prepare: the refusal as the earlier version kept it, from this sender.
    await database.pool.query(
      `INSERT INTO pending_consents (ref_bidx, data_sharing, research, recorded_at, recorded_by)
       VALUES ($1, false, false, '2026-03-01T00:00:00Z', $2)`,
      [await earlierIndex('Patient/earlier-x'), SENDER],
    );

    // Act
    const { runId } = await pipeline.ingestBody(
      ndjson([
        patientResource('earlier-x', 'MRN-EARLIER-X', 'Waited'),
        consentFor('Patient/earlier-x', { dateTime: '2026-01-01T00:00:00Z' }),
      ]),
      NDJSON,
      SENDER,
    );

    // Assess
    const rejections = await listRejections(database.pool, runId);
    expect(
      rejections.map(({ recordIndex, reason, details }) => [recordIndex, reason, details]),
    ).toEqual([[0, 'consent', { requires: 'data_sharing', consent: 'refused' }]]);
    expect(await findPatientsByMrn(pipeline.deps, 'system:test', 'MRN-EARLIER-X')).toEqual([]);
  });

  it('another sender’s row under the earlier index decides nothing for this one', async () => {
    // Prepare
    await database.pool.query(
      `INSERT INTO pending_consents (ref_bidx, data_sharing, research, recorded_at, recorded_by)
       VALUES ($1, false, false, '2026-03-01T00:00:00Z', 'system:someone-else')`,
      [await earlierIndex('Patient/earlier-y')],
    );

    // Act
    const { runId } = await pipeline.ingestBody(
      ndjson([
        patientResource('earlier-y', 'MRN-EARLIER-Y', 'Permitted'),
        consentFor('Patient/earlier-y', { dateTime: '2026-01-01T00:00:00Z' }),
      ]),
      NDJSON,
      SENDER,
    );

    // Assess
    expect(await listRejections(database.pool, runId)).toEqual([]);
    expect(await findPatientsByMrn(pipeline.deps, 'system:test', 'MRN-EARLIER-Y')).toHaveLength(1);
  });

  it('a patient stored then is still found by the same sender’s Patient/<id>', async () => {
    // Prepare: the patient stored, its reference rewritten as the earlier version kept it.
    const { runId: patientRun } = await pipeline.ingestBody(
      ndjson([
        patientResource('earlier-z', 'MRN-EARLIER-Z', 'Stored'),
        consentFor('Patient/earlier-z'),
      ]),
      NDJSON,
      SENDER,
    );
    await database.pool.query('DELETE FROM patient_references WHERE run_id = $1', [patientRun]);
    const [stored] = await findPatientsByMrn(pipeline.deps, 'system:test', 'MRN-EARLIER-Z');
    await database.pool.query(
      'INSERT INTO patient_references (ref_bidx, patient_id, run_id) VALUES ($1, $2, $3)',
      [await earlierIndex('Patient/earlier-z'), stored?.id, patientRun],
    );

    // Act
    const { runId } = await pipeline.ingestBody(
      ndjson([
        {
          resourceType: 'Observation',
          id: 'earlier-obs',
          status: 'final',
          code: { text: 'x' },
          subject: { reference: 'Patient/earlier-z' },
        },
      ]),
      NDJSON,
      SENDER,
    );
    const { runId: otherRun } = await pipeline.ingestBody(
      ndjson([
        {
          resourceType: 'Observation',
          id: 'other-obs',
          status: 'final',
          code: { text: 'x' },
          subject: { reference: 'Patient/earlier-z' },
        },
      ]),
      NDJSON,
      'system:someone-else',
    );

    // Assess
    expect(await listRejections(database.pool, runId)).toEqual([]);
    expect((await listRejections(database.pool, otherRun)).map(({ reason }) => reason)).toEqual([
      'orphan-reference',
    ]);
  });
});
