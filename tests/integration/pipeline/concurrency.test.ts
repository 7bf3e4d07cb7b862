import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listAuditByRun, verifyAuditChain } from '../../../lib/db/repositories/auditLog.ts';
import { findIngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import { listRejections } from '../../../lib/db/repositories/rejections.ts';
import { openPayload } from '../../../lib/pipeline/claimCheck.ts';
import type { StageHandler } from '../../../lib/workflow/stageHandlers.ts';
import { type TestDatabase, useTestDatabase } from '../../helpers/database.ts';
import { count, shuffled } from '../../helpers/deterministic.ts';
import { flatRecord, sealedPayloads, useTestPipeline } from '../../helpers/pipeline.ts';

const context = {} as Parameters<StageHandler>[1];

/**
 * Runs `invoke` twice while this test holds the run's row lock, and lets go only once both
 * wait on it (after `whileWaiting`): both have passed the stage frame's first check, and
 * neither has committed.
 */
async function raceUnderRunLock<T>(
  database: TestDatabase,
  runId: string,
  invoke: () => Promise<T>,
  whileWaiting: () => Promise<void> = async () => undefined,
): Promise<T[]> {
  const holder = await database.pool.connect();
  let holding = false;
  try {
    await holder.query('BEGIN');
    holding = true;
    await holder.query('SELECT 1 FROM ingest_runs WHERE id = $1 FOR UPDATE', [runId]);
    const racing = Promise.all([invoke(), invoke()]);
    // Awaited below; handled now so an early rejection is not reported as unhandled.
    racing.catch(() => undefined);
    const deadline = Date.now() + 10_000;
    while (
      (await count(
        database,
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      )) < 2
    ) {
      if (Date.now() > deadline)
        throw new Error('the two invocations never waited on the run lock');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await whileWaiting();
    await holder.query('COMMIT');
    holding = false;
    return await racing;
  } finally {
    if (holding) await holder.query('ROLLBACK');
    holder.release();
  }
}

describe('concurrent runs sharing MRNs', () => {
  // Each test counts every patient and audit row: a database of its own.
  const database = useTestDatabase({ perTest: true });
  const pipeline = useTestPipeline(database);

  it('6 runs creating the same 150 patients, each in its own order, all succeed without a retry, each patient created once', async () => {
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

  it('6 runs changing the same 150 stored patients, each in its own order, all succeed without a retry', async () => {
    // Prepare: the patients exist, so the runs race on row locks, not on first inserts
    const patients = (version: string) =>
      Array.from({ length: 150 }, (_, i) =>
        flatRecord({
          mrn: `MRN-SHARED-${String(i).padStart(3, '0')}`,
          name: `Shared Patient ${i} ${version}`,
        }),
      );
    const stored = await pipeline.ingest(patients('v0'));
    const batches = Array.from({ length: 6 }, (_, run) =>
      shuffled(patients(`v${run + 1}`), 20_261_124 + run),
    );

    // Act
    const runs = await Promise.all(batches.map((batch) => pipeline.ingest(batch)));

    // Assess
    expect(stored.execution.output?.counts).toMatchObject({ created: 150 });
    const orders = batches.map((batch) => batch.map((record) => record['mrn']).join());
    expect(new Set(orders).size).toBe(6);
    expect(runs.map(({ execution }) => execution.status)).toEqual(Array(6).fill('SUCCEEDED'));
    // A deadlock (40P01) is a retryable TransientDatabaseError: a retry would hide it.
    const retried = runs.flatMap(({ execution }) =>
      execution.events.filter((event) => event.type === 'StateRetried'),
    );
    expect(retried).toEqual([]);
    for (const { execution } of runs) {
      expect(execution.output?.counts).toMatchObject({ created: 0, updated: 150, loaded: 150 });
    }
    expect(await count(database, 'SELECT count(*)::int AS n FROM patients')).toBe(150);
    // One lock order: each Load queued behind the previous one, so a single run wrote last everywhere.
    expect(
      await count(database, 'SELECT count(DISTINCT updated_run_id)::int AS n FROM patients'),
    ).toBe(1);
    const audited = await database.pool.query<{ action: string; n: number; patients: number }>(
      `SELECT action, count(*)::int AS n, count(DISTINCT (resource_id, run_id))::int AS patients
       FROM audit_log WHERE resource_type = 'Patient' GROUP BY action ORDER BY action`,
    );
    expect(audited.rows).toEqual([
      { action: 'CREATE', n: 150, patients: 150 },
      { action: 'UPDATE', n: 900, patients: 900 },
    ]);
    expect(await verifyAuditChain(database.pool)).toMatchObject({ firstBreak: undefined });
  });
});

describe('the stage frame re-checks under the run lock', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);

  it('two Validates racing before either commits: one does the work, both report it', async () => {
    // Prepare
    const runId = await pipeline.submit([
      flatRecord({ mrn: 'MRN-RACE-V-1' }),
      flatRecord({ mrn: 'MRN-RACE-V-2', ssn: 'not-an-ssn' }),
      flatRecord({ mrn: 'MRN-RACE-V-3', birthDate: '1990-02-30' }),
      flatRecord({ mrn: 'MRN-RACE-V-4' }),
      flatRecord({ mrn: 'MRN-RACE-V-1', name: 'Second Of Mrn' }),
    ]);
    await pipeline.handlers.Extract({ runId }, context);
    const runDirectory = join(pipeline.deps.payloadStore.location, runId);
    const validatedFiles = () =>
      readdirSync(runDirectory).filter((name) => name.startsWith('validated-'));
    const waiting = { files: [] as string[], rows: -1 };

    // Act
    const [first, second] = await raceUnderRunLock(
      database,
      runId,
      () => pipeline.handlers.Validate({ runId }, context),
      async () => {
        waiting.files = validatedFiles();
        waiting.rows = await count(
          database,
          `SELECT count(*)::int AS n FROM stage_payloads WHERE run_id = $1 AND stage = 'validated'`,
          [runId],
        );
      },
    );

    // Assess
    expect(second?.counts).toEqual(first?.counts);
    expect(first?.counts).toMatchObject({ valid: 2, invalid: 2, duplicates: 1, rejected: 3 });
    const rejections = await listRejections(database.pool, runId);
    expect(rejections.map((r) => [r.recordIndex, r.reason])).toEqual([
      [1, 'schema'],
      [2, 'schema'],
      [4, 'duplicate-in-batch'],
    ]);
    expect(
      await count(
        database,
        `SELECT count(*)::int AS n FROM stage_payloads WHERE run_id = $1 AND stage = 'validated'`,
        [runId],
      ),
    ).toBe(1);
    expect((await findIngestRun(database.pool, runId))?.counts).toEqual(first?.counts);
    // One transaction wrote all of Validate's output: the loser rewrote nothing.
    const writers = await database.pool.query<{ xmin: string }>(
      `SELECT xmin::text FROM ingest_runs WHERE id = $1
       UNION SELECT xmin::text FROM stage_payloads WHERE run_id = $1 AND stage = 'validated'
       UNION SELECT xmin::text FROM rejections WHERE run_id = $1`,
      [runId],
    );
    expect(writers.rows).toHaveLength(1);
    // Both outputs were written whole before either transaction; the one recorded stands, the
    // other is deleted, and the run's purge takes the rest.
    expect(waiting).toEqual({ files: [expect.any(String), expect.any(String)], rows: 0 });
    const run = await findIngestRun(database.pool, runId);
    const key = await pipeline.deps.keyring.runKey(database.pool, run!.dataKeyId, runId);
    const stored = await sealedPayloads(pipeline.deps, runId);
    const validated = stored.find((payload) => payload.stage === 'validated');
    expect(openPayload(key, runId, 'validated', validated!.sealed!)).toMatchObject({
      records: [expect.anything(), expect.anything()],
    });
    expect(waiting.files).toContain(validatedFiles()[0]);
    expect(validatedFiles()).toHaveLength(1);
    for (const state of ['ConsentCheck', 'Transform', 'Load', 'Publish'] as const) {
      await pipeline.handlers[state]({ runId }, context);
    }
    expect(existsSync(runDirectory)).toBe(false);
  });

  it('two Loads racing before either commits: both return, each patient created and audited once', async () => {
    // Prepare
    const runId = await pipeline.submit([
      flatRecord({ mrn: 'MRN-RACE-L-1' }),
      flatRecord({ mrn: 'MRN-RACE-L-2', name: 'Lou Race' }),
      flatRecord({ mrn: 'MRN-RACE-L-3', name: 'Lee Race' }),
    ]);
    for (const state of ['Extract', 'Validate', 'ConsentCheck', 'Transform'] as const) {
      await pipeline.handlers[state]({ runId }, context);
    }

    // Act
    const [first, second] = await raceUnderRunLock(database, runId, () =>
      pipeline.handlers.Load({ runId }, context),
    );

    // Assess
    expect(second?.counts).toEqual(first?.counts);
    expect(first?.counts).toMatchObject({ created: 3, updated: 0, unchanged: 0, loaded: 3 });
    expect(
      await count(database, 'SELECT count(*)::int AS n FROM patients WHERE created_run_id = $1', [
        runId,
      ]),
    ).toBe(3);
    const audit = await listAuditByRun(database.pool, runId);
    const patientCreates = audit.filter(
      (row) => row.action === 'CREATE' && row.resourceType === 'Patient',
    );
    expect(patientCreates).toHaveLength(3);
    expect(new Set(patientCreates.map((row) => row.resourceId)).size).toBe(3);
    expect(audit.map((row) => row.action)).toEqual(Array(6).fill('CREATE'));
    expect((await findIngestRun(database.pool, runId))?.status).toBe('succeeded');
  });
});

describe('a run that has ended', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);

  it('a late Load cannot revive a run that MarkFailed ended', async () => {
    // Prepare: the run got as far as Transform, then its Load timed out in the state machine
    const runId = await pipeline.submit([flatRecord({ mrn: 'MRN-LATE-1' })]);
    for (const state of ['Extract', 'Validate', 'ConsentCheck', 'Transform'] as const) {
      await pipeline.handlers[state]({ runId }, context);
    }
    const marked = await pipeline.handlers.MarkFailed(
      { runId, error: { Error: 'States.Timeout', Cause: '' } },
      context,
    );

    // Act
    const late = pipeline.handlers.Load({ runId }, context);

    // Assess
    expect(marked).toMatchObject({ runId, status: 'failed' });
    await expect(late).rejects.toMatchObject({ name: 'RunEndedError', code: 'run-ended' });
    const run = await findIngestRun(database.pool, runId);
    expect(run).toMatchObject({ status: 'failed', errorCode: 'stage-timeout' });
    expect(Object.keys(run!.stageTimings)).not.toContain('load');
    expect(await count(database, 'SELECT count(*)::int AS n FROM patients')).toBe(0);
    expect(await count(database, 'SELECT count(*)::int AS n FROM consents')).toBe(0);
    expect(await listAuditByRun(database.pool, runId)).toEqual([]);
  });
});
