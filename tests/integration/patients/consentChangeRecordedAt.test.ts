import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputValidationError } from '../../../lib/errors.ts';
import { changeConsent } from '../../../lib/patients/consentChanges.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.ts';
import { createTestPipeline, flatRecord, type TestPipeline } from '../../helpers/pipeline.ts';
import { thrownBy } from '../../helpers/thrown.ts';

describe('changeConsent: a recordedAt the schema accepts but Date cannot read', () => {
  let database: TestDatabase;
  let pipeline: TestPipeline;

  beforeAll(async () => {
    database = await createTestDatabase();
    pipeline = createTestPipeline(database);
  });

  afterAll(async () => {
    await database.drop();
  });

  it.each([
    ['a leap second', '2016-12-31T23:59:60Z'],
    ['a leap second in another zone', '2017-01-01T00:59:60+01:00'],
    ['an hour-only offset', '2024-01-01T10:00:00+01'],
  ])(
    'refuses %s with InputValidationError on /recordedAt (a 400, not a 500)',
    async (_, recordedAt) => {
      // Prepare
      const { runId, execution } = await pipeline.ingest([
        flatRecord({ mrn: `MRN-LEAP-${recordedAt.length}-${recordedAt.slice(-3)}` }),
      ]);
      expect(execution.status).toBe('SUCCEEDED');
      const { rows } = await database.pool.query<{ id: string }>(
        'SELECT id FROM patients WHERE created_run_id = $1',
        [runId],
      );
      const id = rows[0]!.id;
      const before = await database.pool.query('SELECT * FROM consents WHERE patient_id = $1', [
        id,
      ]);

      // Act
      const error = await thrownBy(() =>
        changeConsent(pipeline.deps, 'user:officer-leap', id, { data_sharing: false, recordedAt }),
      );

      // Assess
      expect(error).toBeInstanceOf(InputValidationError);
      expect((error as InputValidationError).problems.map((problem) => problem.path)).toContain(
        '/recordedAt',
      );
      const after = await database.pool.query('SELECT * FROM consents WHERE patient_id = $1', [id]);
      expect(after.rows).toEqual(before.rows);
    },
  );
});
