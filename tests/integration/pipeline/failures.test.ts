import { describe, expect, it } from 'vitest';
import { listAuditByRun } from '../../../lib/db/repositories/auditLog.ts';
import { findIngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import { listPipelineEvents } from '../../../lib/db/repositories/pipelineEvents.ts';
import { listRejections } from '../../../lib/db/repositories/rejections.ts';
import { KeyServiceRefusedError, KeyServiceUnavailableError } from '../../../lib/errors.ts';
import { acceptSubmission } from '../../../lib/pipeline/intake.ts';
import { type TestDatabase, useTestDatabase } from '../../helpers/database.ts';
import { FaultyKeyService } from '../../helpers/keyServices.ts';
import { createTestPipeline, flatRecord, transientMaxAttempts } from '../../helpers/pipeline.ts';

async function count(database: TestDatabase, table: string): Promise<number> {
  const { rows } = await database.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${table}`,
  );
  return rows[0]!.n;
}

const blindIndexKeyGeneration = (call: { operation: string; context: Record<string, string> }) =>
  call.operation === 'generate' && call.context['purpose'] === 'blind-index';

describe('failures through the ASL Retry and Catch', () => {
  // A fresh database each time: the blind-index key is generated on the first Transform.
  const database = useTestDatabase({ perTest: true });

  it('a failing Transform ends the run failed with an error code, nothing loaded', async () => {
    // Prepare
    const keyService = new FaultyKeyService((call) =>
      blindIndexKeyGeneration(call)
        ? new KeyServiceRefusedError('KMS GenerateDataKey refused (AccessDeniedException)')
        : undefined,
    );
    const pipeline = createTestPipeline(database, { keyService });

    // Act: ConsentCheck denies the second record and commits before Transform fails
    const { runId, execution } = await pipeline.ingest([
      flatRecord({ mrn: 'MRN-FAIL-1' }),
      flatRecord({ mrn: 'MRN-FAIL-2', consent: { data_sharing: false } }),
    ]);

    // Assess
    expect(execution.status).toBe('FAILED');
    expect(execution.error?.name).toBe('IngestRunFailed');
    const visited = execution.events
      .filter((e) => e.type === 'StateEntered')
      .map((e) => ('state' in e ? e.state.name : ''));
    expect(visited).toEqual([
      'Extract',
      'Validate',
      'ConsentCheck',
      'Transform',
      'MarkFailed',
      'Publish',
      'RunOutcome',
      'RunFailed',
    ]);
    expect(execution.events.some((e) => e.type === 'StateRetried')).toBe(false);
    const run = await findIngestRun(database.pool, runId);
    expect(run).toMatchObject({
      status: 'failed',
      errorCode: 'key-service-refused',
      currentStage: 'consentCheck',
    });
    expect(await count(database, 'patients')).toBe(0);
    expect(await count(database, 'consents')).toBe(0);
    expect(run?.counts).toMatchObject({ consented: 1, blocked: 1, rejected: 1 });
    // The committed stages' audit rows stand; nothing Load would have audited got in.
    const audit = await listAuditByRun(database.pool, runId);
    expect(audit.map((row) => [row.action, row.resourceType, row.outcome, row.details])).toEqual([
      [
        'DENY',
        'Patient',
        'denied',
        { stage: 'consentCheck', recordIndex: 1, reason: 'consent', consent: 'refused' },
      ],
    ]);
    expect((await listPipelineEvents(database.pool, runId)).map((e) => e.body)).toEqual([
      expect.objectContaining({
        type: 'ingest.run.failed',
        status: 'failed',
        errorCode: 'key-service-refused',
      }),
    ]);
    // Kept for a re-drive once the fault is fixed.
    const payloads = await database.pool.query(
      'SELECT stage FROM stage_payloads WHERE run_id = $1 ORDER BY stage',
      [runId],
    );
    expect(payloads.rows.map((row) => row.stage)).toEqual([
      'consented',
      'extracted',
      'received',
      'validated',
    ]);
  });

  it('retries a transient key-service failure with backoff and then succeeds', async () => {
    // Prepare
    const keyService = new FaultyKeyService((call, attempt) =>
      blindIndexKeyGeneration(call) && attempt <= 2
        ? new KeyServiceUnavailableError('KMS throttled')
        : undefined,
    );
    const pipeline = createTestPipeline(database, { keyService });

    // Act
    const { runId, execution } = await pipeline.ingest([flatRecord({ mrn: 'MRN-RETRY-1' })]);

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    const retries = execution.events.filter((e) => e.type === 'StateRetried');
    expect(retries.map((e) => ('state' in e ? e.state.name : ''))).toEqual([
      'Transform',
      'Transform',
    ]);
    expect((await findIngestRun(database.pool, runId))?.status).toBe('succeeded');
    expect(await count(database, 'patients')).toBe(1);
  });

  it('gives up after the ASL MaxAttempts and records the transient error code', async () => {
    // Prepare
    const keyService = new FaultyKeyService((call) =>
      blindIndexKeyGeneration(call) ? new KeyServiceUnavailableError('KMS throttled') : undefined,
    );
    const pipeline = createTestPipeline(database, { keyService });

    // Act
    const { runId, execution } = await pipeline.ingest([flatRecord({ mrn: 'MRN-RETRY-2' })]);

    // Assess
    expect(execution.status).toBe('FAILED');
    expect(execution.events.filter((e) => e.type === 'StateRetried')).toHaveLength(
      transientMaxAttempts('Transform'),
    );
    expect((await findIngestRun(database.pool, runId))?.errorCode).toBe('key-service-unavailable');
    expect(await count(database, 'patients')).toBe(0);
  });

  it('a batch that cannot be parsed fails at Extract with envelope-invalid', async () => {
    // Prepare
    const pipeline = createTestPipeline(database);
    const { runId } = await acceptSubmission(pipeline.deps, {
      body: '{"records": "not an array"}',
      contentType: 'application/json',
      format: 'flat',
      recordCount: 0,
      actor: 'system:test-feed',
      source: 'test',
    });

    // Act
    const execution = await pipeline.workflow.execute(runId);

    // Assess
    expect(execution.status).toBe('FAILED');
    expect(await findIngestRun(database.pool, runId)).toMatchObject({
      status: 'failed',
      errorCode: 'envelope-invalid',
    });
  });
});

describe('idempotent stages', () => {
  const database = useTestDatabase({ perTest: true });

  it('a stage invoked again after its commit does no work twice, and the run completes', async () => {
    // Prepare
    const pipeline = createTestPipeline(database);
    const runId = await pipeline.submit([
      flatRecord({ mrn: 'MRN-IDEM-1' }),
      flatRecord({ mrn: 'MRN-IDEM-2', consent: { data_sharing: false } }),
      flatRecord({ mrn: 'MRN-IDEM-3', ssn: 'bad' }),
    ]);
    const context = {} as Parameters<(typeof pipeline.handlers)['Extract']>[1];
    for (const state of ['Extract', 'Validate', 'ConsentCheck'] as const) {
      await pipeline.handlers[state]({ runId }, context);
    }
    const payloadsBefore = await database.pool.query(
      'SELECT stage, created_at FROM stage_payloads WHERE run_id = $1 ORDER BY stage',
      [runId],
    );
    const timingsBefore = (await findIngestRun(database.pool, runId))?.stageTimings;

    // Act: each stage again (a retry after a crash past the commit), twice at once, then the whole ASL
    const again = await Promise.all(
      (['Extract', 'Validate', 'ConsentCheck', 'Validate'] as const).map((state) =>
        pipeline.handlers[state]({ runId }, context),
      ),
    );
    const payloadsAfter = await database.pool.query(
      'SELECT stage, created_at FROM stage_payloads WHERE run_id = $1 ORDER BY stage',
      [runId],
    );
    const execution = await pipeline.workflow.execute(runId);

    // Assess
    expect(again.map((result) => result.counts)).toEqual(Array(4).fill(again[0]!.counts));
    expect(payloadsBefore.rows.map((row) => row.stage)).toEqual([
      'consented',
      'extracted',
      'received',
      'validated',
    ]);
    expect(payloadsAfter.rows).toEqual(payloadsBefore.rows);
    const run = await findIngestRun(database.pool, runId);
    for (const stage of ['extract', 'validate', 'consentCheck']) {
      expect(run?.stageTimings[stage]).toBe(timingsBefore?.[stage]);
    }
    expect(execution.status).toBe('SUCCEEDED');
    expect(run?.counts).toMatchObject({
      received: 3,
      valid: 2,
      invalid: 1,
      consented: 1,
      blocked: 1,
      created: 1,
      rejected: 2,
    });
    expect((await listRejections(database.pool, runId)).map((r) => r.reason)).toEqual([
      'consent',
      'schema',
    ]);
    const audit = await listAuditByRun(database.pool, runId);
    expect(audit.map((row) => row.action)).toEqual(['DENY', 'CREATE', 'CREATE']);
    expect(await count(database, 'patients')).toBe(1);
  });
});
