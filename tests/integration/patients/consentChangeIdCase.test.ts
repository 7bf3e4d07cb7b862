import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryAudit } from '../../../lib/audit/auditQueries.ts';
import { changeConsent } from '../../../lib/patients/consentChanges.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.ts';
import { createTestPipeline, flatRecord, type TestPipeline } from '../../helpers/pipeline.ts';

describe('changeConsent with the patient id in capitals', () => {
  let database: TestDatabase;
  let pipeline: TestPipeline;

  beforeAll(async () => {
    database = await createTestDatabase();
    pipeline = createTestPipeline(database);
  });

  afterAll(async () => {
    await database.drop();
  });

  it('audits the change under the canonical id, so the audit query by patient finds it', async () => {
    // Prepare
    const { runId, execution } = await pipeline.ingest([flatRecord({ mrn: 'MRN-CASE-CONSENT' })]);
    expect(execution.status).toBe('SUCCEEDED');
    const { rows } = await database.pool.query<{ id: string }>(
      'SELECT id FROM patients WHERE created_run_id = $1',
      [runId],
    );
    const id = rows[0]!.id;
    const officer = 'user:officer-case';

    // Act
    const view = await changeConsent(pipeline.deps, officer, id.toUpperCase(), {
      data_sharing: false,
    });

    // Assess
    const audit = await database.pool.query<{ resource_id: string }>(
      'SELECT resource_id FROM audit_log WHERE actor = $1',
      [officer],
    );
    expect(audit.rows).toEqual([{ resource_id: id }]);
    const page = await queryAudit(pipeline.deps, 'system:auditor', {
      patient: id,
      actor: officer,
    });
    expect(page.data.map((row) => [row.action, row.resourceType])).toEqual([['UPDATE', 'Consent']]);
    expect(view.patientId).toBe(id);
  });
});
