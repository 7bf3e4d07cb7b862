import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import middy from '@middy/core';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../../lib/db/migrate.ts';
import { createPool } from '../../../lib/db/pool.ts';
import { findIngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import { listRejections } from '../../../lib/db/repositories/rejections.ts';
import {
  ConflictError,
  KeyServiceUnavailableError,
  RunNotFoundError,
  TransientDatabaseError,
} from '../../../lib/errors.ts';
import type { IntakeDependencies } from '../../../lib/pipeline/intake.ts';
import { redriveRun } from '../../../lib/pipeline/runExecutions.ts';
import type { RunOutcome, StageResult } from '../../../lib/pipeline/stages.ts';
import type { StageHandler, TaskState } from '../../../lib/workflow/stageHandlers.ts';
import {
  type RunningPostgres,
  randomPassword,
  startEmbeddedPostgres,
} from '../../../local/embeddedPostgres.ts';
import { type ExecutionRecord, InProcessWorkflow } from '../../../local/inProcessWorkflow.ts';
import { type TestDatabase, useTestDatabase } from '../../helpers/database.ts';
import { occurrences, sweepDatabase } from '../../helpers/databaseSweep.ts';
import { FaultyKeyService } from '../../helpers/keyServices.ts';
import { createTestPipeline, flatRecord, transientMaxAttempts } from '../../helpers/pipeline.ts';
import { thrownBy } from '../../helpers/thrown.ts';
import { RecordingStarter } from '../../helpers/workflowStarters.ts';

const COMMITTED_BEFORE_LOAD = ['extract', 'validate', 'consentCheck', 'transform'] as const;

/** The Task state `state` of `handlers`, with `around` deciding what happens around the real one. */
function wrapped(
  handlers: Readonly<Record<TaskState, StageHandler>>,
  state: TaskState,
  around: (real: () => Promise<StageResult | RunOutcome>) => Promise<StageResult | RunOutcome>,
): Record<TaskState, StageHandler> {
  const real = handlers[state];
  return {
    ...handlers,
    [state]: middy<unknown, StageResult | RunOutcome>().handler((event, context) =>
      around(() => real(event, context)),
    ),
  };
}

function retriesOf(execution: ExecutionRecord): string[] {
  return execution.events
    .filter((event) => event.type === 'StateRetried')
    .map((event) => ('state' in event ? event.state.name : ''));
}

/** Which states failed and why: the message of an assertion on how an execution ended. */
function failuresOf(execution: ExecutionRecord): string {
  return execution.events
    .flatMap((event) =>
      event.type === 'StateFailed' ? [`${event.state.name}: ${event.Error} (${event.Cause})`] : [],
    )
    .join('; ');
}

async function count(pool: pg.Pool, table: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
  return rows[0]!.n;
}

describe('PostgreSQL stopped during Load', () => {
  const dataDir = join(tmpdir(), `etl-faults-pg-${process.pid}-${randomUUID().slice(0, 8)}`);
  const password = randomPassword();
  /** The server while it runs; its port stays once it has stopped, for the restart. */
  let server: RunningPostgres | undefined;
  let port: number | undefined;
  let database: TestDatabase;

  async function stopPostgres(): Promise<void> {
    await server?.stop();
    server = undefined;
  }

  async function startPostgres(): Promise<RunningPostgres> {
    if (server !== undefined) return server;
    server = await startEmbeddedPostgres({
      dataDir,
      persistent: true,
      password,
      durable: false,
      // The same port as before: the pool's connection string still points there.
      ...(port === undefined ? {} : { port, initialised: true }),
    });
    port = server.port;
    return server;
  }

  beforeAll(async () => {
    const { url } = await startPostgres();
    await migrate(url);
    const pool = createPool({
      databaseUrl: url,
      database: { poolMax: 5, statementTimeoutMs: 30_000, ssl: false },
    });
    database = { url, pool, drop: () => pool.end() };
  });

  afterAll(async () => {
    await database?.drop();
    await stopPostgres();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('fails the run as database-unavailable with nothing loaded, and a re-drive completes it without redoing the committed stages', async () => {
    // Prepare
    const pipeline = createTestPipeline(database);
    const records = [
      flatRecord({ mrn: 'MRN-FAULT-PG-1', name: 'Pia Outage' }),
      flatRecord({ mrn: 'MRN-FAULT-PG-2', name: 'Per Outage' }),
      flatRecord({ mrn: 'MRN-FAULT-PG-3', consent: { data_sharing: false } }),
      flatRecord({ mrn: 'MRN-FAULT-PG-4', ssn: 'not an ssn' }),
      flatRecord({ mrn: 'MRN-FAULT-PG-5', name: 'Poe Outage' }),
    ];
    const runId = await pipeline.submit(records);
    // Load finds the server gone; MarkFailed's attempt comes once it is back.
    const faulty = new InProcessWorkflow(
      wrapped(
        wrapped(pipeline.handlers, 'Load', async (real) => {
          await stopPostgres();
          return real();
        }),
        'MarkFailed',
        async (real) => {
          await startPostgres();
          return real();
        },
      ),
      // A short wait between attempts, as the ASL's backoff gives: the pool needs a turn of the
      // event loop to drop connections the restart killed.
      { retryIntervalMs: 50 },
    );
    const starter = new RecordingStarter();
    const intake: IntakeDependencies = {
      ...pipeline.deps,
      workflow: starter,
      maxRecordsPerBatch: 10,
    };

    // Act
    const failed = await faulty.execute(runId);
    const afterFailure = await findIngestRun(database.pool, runId);
    const patientsAfterFailure = await count(database.pool, 'patients');
    const consentsAfterFailure = await count(database.pool, 'consents');
    const redrive = await redriveRun(intake, runId);
    const redriven = await pipeline.workflow.execute(runId);

    // Assess: the failure
    expect(failed.status).toBe('FAILED');
    expect(failed.error?.name, failuresOf(failed)).toBe('IngestRunFailed');
    expect(retriesOf(failed)).toEqual(Array(transientMaxAttempts('Load')).fill('Load'));
    expect(afterFailure).toMatchObject({
      status: 'failed',
      errorCode: 'database-unavailable',
      currentStage: 'transform',
    });
    expect(Object.keys(afterFailure!.stageTimings).sort()).toEqual(
      [...COMMITTED_BEFORE_LOAD].sort(),
    );
    expect(patientsAfterFailure).toBe(0);
    expect(consentsAfterFailure).toBe(0);

    // Assess: the re-drive
    expect(redrive).toEqual({ attempt: 1 });
    expect(starter.calls).toEqual([{ runId, attempt: 1 }]);
    expect(redriven.status, failuresOf(redriven)).toBe('SUCCEEDED');
    expect(retriesOf(redriven)).toEqual([]);
    const run = await findIngestRun(database.pool, runId);
    expect(run).toMatchObject({ status: 'succeeded', errorCode: null });
    for (const stage of COMMITTED_BEFORE_LOAD) {
      expect(run?.stageTimings[stage], stage).toBe(afterFailure?.stageTimings[stage]);
    }
    expect(run?.stageTimings['load']).toEqual(expect.any(Number));
    expect(run?.counts).toMatchObject({ created: 3, consented: 3, blocked: 1, rejected: 2 });
    const { rows } = await database.pool.query<{ n: number; distinct_mrns: number }>(
      'SELECT count(*)::int AS n, count(DISTINCT mrn_bidx)::int AS distinct_mrns FROM patients',
    );
    expect(rows[0]).toEqual({ n: 3, distinct_mrns: 3 });
    expect(await count(database.pool, 'consents')).toBe(3);
    expect(
      (await listRejections(database.pool, runId)).map((r) => [r.recordIndex, r.reason]),
    ).toEqual([
      [2, 'consent'],
      [3, 'schema'],
    ]);
    const audit = await database.pool.query<{ action: string; resource_type: string }>(
      'SELECT action, resource_type FROM audit_log WHERE run_id = $1 ORDER BY seq',
      [runId],
    );
    expect(audit.rows.map((row) => `${row.action} ${row.resource_type}`).sort()).toEqual([
      'CREATE Consent',
      'CREATE Consent',
      'CREATE Consent',
      'CREATE Patient',
      'CREATE Patient',
      'CREATE Patient',
      'DENY Patient',
    ]);
    const events = await database.pool.query<{ type: string }>(
      'SELECT type FROM pipeline_events WHERE run_id = $1 ORDER BY id',
      [runId],
    );
    expect(events.rows.map((row) => row.type)).toEqual([
      'ingest.run.failed',
      'ingest.run.succeeded',
    ]);
  }, 90_000);
});

describe('faults on the shared test server', () => {
  const database = useTestDatabase({ perTest: true });

  it('a Validate that crashes after its commit is retried, returns the committed counts, and writes its rejections once', async () => {
    // Prepare
    const pipeline = createTestPipeline(database);
    const results: Array<StageResult | RunOutcome> = [];
    let crashed = false;
    const workflow = new InProcessWorkflow(
      wrapped(pipeline.handlers, 'Validate', async (real) => {
        const result = await real();
        results.push(result);
        if (!crashed) {
          crashed = true;
          throw new TransientDatabaseError('connection lost after the commit');
        }
        return result;
      }),
      { retryIntervalMs: 0 },
    );
    const runId = await pipeline.submit([
      flatRecord({ mrn: 'MRN-FAULT-CRASH-1' }),
      flatRecord({ mrn: 'MRN-FAULT-CRASH-2', birthDate: '1990-02-30' }),
      flatRecord({ mrn: 'MRN-FAULT-CRASH-1', name: 'Dupe Duplicate' }),
      flatRecord({ mrn: 'MRN-FAULT-CRASH-4', consent: { data_sharing: false } }),
      flatRecord({ mrn: 'MRN-FAULT-CRASH-5' }),
    ]);

    // Act
    const execution = await workflow.execute(runId);

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    expect(retriesOf(execution)).toEqual(['Validate']);
    expect(results).toHaveLength(2);
    expect(results[1]).toStrictEqual(results[0]);
    expect(results[0]?.counts).toMatchObject({
      valid: 3,
      invalid: 1,
      duplicates: 1,
      rejected: 2,
    });
    expect(
      (await listRejections(database.pool, runId)).map((r) => [r.recordIndex, r.reason, r.stage]),
    ).toEqual([
      [1, 'schema', 'validate'],
      [2, 'duplicate-in-batch', 'validate'],
      [3, 'consent', 'consentCheck'],
    ]);
    const run = await findIngestRun(database.pool, runId);
    expect(run).toMatchObject({ status: 'succeeded' });
    expect(run?.counts).toMatchObject({ valid: 3, rejected: 3, created: 2 });
    expect(await count(database.pool, 'patients')).toBe(2);
  });

  it.each([
    [
      'as it records the payload: the object it wrote is deleted at once',
      'CREATE TRIGGER fault_once AFTER INSERT OR UPDATE ON stage_payloads',
      1,
    ],
    [
      'at COMMIT, when the outcome is unknown: the object is kept until the run is purged',
      `CREATE CONSTRAINT TRIGGER fault_once AFTER INSERT OR UPDATE ON stage_payloads
       DEFERRABLE INITIALLY DEFERRED`,
      2,
    ],
  ])(
    'Validate’s database backend terminated after its payload is written, %s; the retry completes the run',
    async (_, trigger, validatedFilesBeforePublish) => {
      // Prepare: the backend of Validate's first transaction ends itself once it has written the row
      await database.pool.query(`
        CREATE SEQUENCE fault_once_calls;
        CREATE FUNCTION fault_once() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.stage = 'validated' AND nextval('fault_once_calls') = 1 THEN
            PERFORM pg_terminate_backend(pg_backend_pid());
          END IF;
          RETURN NEW;
        END $$;
        ${trigger} FOR EACH ROW EXECUTE FUNCTION fault_once();`);
      const pipeline = createTestPipeline(database);
      const runDirectory = (runId: string) => join(pipeline.deps.payloadStore.location, runId);
      let beforePublish: string[] = [];
      let lastRunId = '';
      const workflow = new InProcessWorkflow(
        wrapped(pipeline.handlers, 'Publish', async (real) => {
          beforePublish = (await readdir(runDirectory(lastRunId))).filter((name) =>
            name.startsWith('validated-'),
          );
          return real();
        }),
        { retryIntervalMs: 50 },
      );
      lastRunId = await pipeline.submit([
        flatRecord({ mrn: 'MRN-FAULT-TERM-1' }),
        flatRecord({ mrn: 'MRN-FAULT-TERM-2', birthDate: '1990-02-30' }),
        flatRecord({ mrn: 'MRN-FAULT-TERM-3' }),
      ]);

      // Act
      const execution = await workflow.execute(lastRunId);

      // Assess
      expect(execution.status, failuresOf(execution)).toBe('SUCCEEDED');
      expect(retriesOf(execution)).toEqual(['Validate']);
      const calls = await database.pool.query<{ n: string }>(
        'SELECT last_value::text AS n FROM fault_once_calls',
      );
      expect(Number(calls.rows[0]!.n)).toBe(2);
      expect(await findIngestRun(database.pool, lastRunId)).toMatchObject({
        status: 'succeeded',
        counts: expect.objectContaining({ valid: 2, invalid: 1, created: 2, rejected: 1 }),
      });
      expect(await count(database.pool, 'patients')).toBe(2);
      expect(beforePublish).toHaveLength(validatedFilesBeforePublish);
      expect(existsSync(runDirectory(lastRunId))).toBe(false);
    },
  );

  it('a key service failing from Transform on fails the run as key-service-unavailable, leaving no PHI in clear', async () => {
    // Prepare
    const phi = {
      mrn: 'MRN-FAULT-KMS-30917',
      name: 'Kasimir Keyless',
      ssn: '987-65-3091',
      birthDate: '1944-06-06',
      blockedName: 'Berit Blockedkeyless',
      invalidName: 'Ivo Invalidkeyless',
    };
    let failing = false;
    let callsBeforeTransform = 0;
    const keyService = new FaultyKeyService(() =>
      failing ? new KeyServiceUnavailableError('KMS unreachable') : undefined,
    );
    // Each Task starts cold, as separate Lambda functions do: Transform must ask for its keys.
    const pipeline = createTestPipeline(database, { keyService, keyringPerTask: true });
    const workflow = new InProcessWorkflow(
      wrapped(pipeline.handlers, 'Transform', async (real) => {
        if (!failing) callsBeforeTransform = keyService.calls.length;
        failing = true;
        return real();
      }),
      { retryIntervalMs: 0 },
    );
    const runId = await pipeline.submit([
      flatRecord({ mrn: phi.mrn, name: phi.name, ssn: phi.ssn, birthDate: phi.birthDate }),
      flatRecord({ mrn: 'MRN-FAULT-KMS-2', name: phi.blockedName, consent: {} }),
      flatRecord({ mrn: 'MRN-FAULT-KMS-3', name: phi.invalidName, gender: 'robot' }),
    ]);

    // Act
    const execution = await workflow.execute(runId);

    // Assess
    expect(execution.status).toBe('FAILED');
    expect(retriesOf(execution)).toEqual(
      Array(transientMaxAttempts('Transform')).fill('Transform'),
    );
    // Every attempt asked the key service, and was refused.
    expect(keyService.calls.length - callsBeforeTransform).toBeGreaterThanOrEqual(
      transientMaxAttempts('Transform') + 1,
    );
    expect(await findIngestRun(database.pool, runId)).toMatchObject({
      status: 'failed',
      errorCode: 'key-service-unavailable',
      currentStage: 'consentCheck',
    });
    expect(await count(database.pool, 'patients')).toBe(0);
    const { tables, cells } = await sweepDatabase(database.pool);
    expect(tables).toEqual(
      expect.arrayContaining(['audit_log', 'ingest_runs', 'pipeline_events', 'stage_payloads']),
    );
    expect(cells.some((cell) => cell.table === 'stage_payloads')).toBe(true);
    expect(occurrences(cells, Object.values(phi))).toEqual([]);
  });

  it.each([
    ['a run that succeeded', 'succeeded', ConflictError, 409],
    ['a run still queued', 'queued', ConflictError, 409],
    ['a failed run whose batch is gone', 'purged', ConflictError, 409],
    ['a run that does not exist', 'unknown', RunNotFoundError, 404],
  ] as const)(
    'redriveRun refuses %s, starting nothing and changing nothing',
    async (_, kind, errorClass, statusCode) => {
      // Prepare
      const pipeline = createTestPipeline(database);
      const starter = new RecordingStarter();
      const intake: IntakeDependencies = {
        ...pipeline.deps,
        workflow: starter,
        maxRecordsPerBatch: 10,
      };
      let runId: string = randomUUID();
      if (kind === 'succeeded') {
        const ingested = await pipeline.ingest([flatRecord({ mrn: 'MRN-FAULT-REDRIVE-OK' })]);
        expect(ingested.execution.status).toBe('SUCCEEDED');
        runId = ingested.runId;
      } else if (kind === 'queued') {
        runId = await pipeline.submit([flatRecord({ mrn: 'MRN-FAULT-REDRIVE-Q' })]);
      } else if (kind === 'purged') {
        runId = await pipeline.submit([flatRecord({ mrn: 'MRN-FAULT-REDRIVE-P' })]);
        await database.pool.query(
          `UPDATE ingest_runs SET status = 'failed', error_code = 'internal-error' WHERE id = $1`,
          [runId],
        );
        await database.pool.query('DELETE FROM stage_payloads WHERE run_id = $1', [runId]);
      }
      const snapshot = async () =>
        (await database.pool.query('SELECT * FROM ingest_runs WHERE id = $1', [runId])).rows;
      const before = await snapshot();

      // Act
      const error = await thrownBy(() => redriveRun(intake, runId));

      // Assess
      expect(error).toBeInstanceOf(errorClass);
      expect((error as ConflictError | RunNotFoundError).statusCode).toBe(statusCode);
      expect(starter.calls).toEqual([]);
      expect(await snapshot()).toStrictEqual(before);
    },
  );
});
