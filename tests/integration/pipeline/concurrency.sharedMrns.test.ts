import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../../lib/db/repositories/auditLog.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.ts';
import { count, shuffled } from '../../helpers/deterministic.ts';
import { createTestPipeline, flatRecord, type TestPipeline } from '../../helpers/pipeline.ts';

describe('concurrent runs sharing MRNs', () => {
  let database: TestDatabase;
  let pipeline: TestPipeline;

  beforeAll(async () => {
    database = await createTestDatabase();
    pipeline = createTestPipeline(database);
  });

  afterAll(async () => {
    await database.drop();
  });

  it('6 runs of the same 150 patients in different orders all succeed, each patient created once', async () => {
    // Prepare
    const records = Array.from({ length: 150 }, (_, i) =>
      flatRecord({ mrn: `MRN-SHARED-${String(i).padStart(3, '0')}`, name: `Shared Patient ${i}` }),
    );
    const batches = Array.from({ length: 6 }, (_, run) => shuffled(records, 20_261_124 + run));

    // Act
    const runs = await Promise.all(batches.map((batch) => pipeline.ingest(batch)));

    // Assess
    expect(new Set(batches.map((batch) => JSON.stringify(batch))).size).toBe(6);
    expect(runs.map(({ execution }) => execution.status)).toEqual(Array(6).fill('SUCCEEDED'));
    // A deadlock surfaces as a retryable TransientDatabaseError: a retry would hide it.
    const retried = runs.flatMap(({ execution }) =>
      execution.events.filter((event) => event.type === 'StateRetried'),
    );
    expect(retried).toEqual([]);
    for (const { execution } of runs) {
      expect(execution.output?.counts).toMatchObject({ updated: 0, loaded: 150 });
    }
    const created = runs.map(({ execution }) => execution.output?.counts['created'] ?? 0);
    expect(created.reduce((sum, n) => sum + n, 0)).toBe(150);
    expect(await count(database, 'SELECT count(*)::int AS n FROM patients')).toBe(150);
    expect(await count(database, 'SELECT count(*)::int AS n FROM consents')).toBe(150);
    const runIds = runs.map(({ runId }) => runId);
    const creates = await database.pool.query<{ n: number; patients: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT resource_id)::int AS patients FROM audit_log
       WHERE action = 'CREATE' AND resource_type = 'Patient' AND run_id = ANY($1::uuid[])`,
      [runIds],
    );
    expect(creates.rows[0]).toEqual({ n: 150, patients: 150 });
    expect(await verifyAuditChain(database.pool)).toMatchObject({ firstBreak: undefined });
  });
});
