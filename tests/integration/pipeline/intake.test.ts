import { describe, expect, it } from 'vitest';
import { findIngestRun, type IngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import {
  InputValidationError,
  PayloadTooLargeError,
  ServiceUnavailableError,
} from '../../../lib/errors.ts';
import { loadPayload } from '../../../lib/pipeline/claimCheck.ts';
import type { ExecutionState, WorkflowStarter } from '../../../lib/pipeline/dependencies.ts';
import {
  type BatchRequest,
  type IntakeDependencies,
  submitBatch,
} from '../../../lib/pipeline/intake.ts';
import { RECEIVED_PAYLOAD, type ReceivedPayload } from '../../../lib/pipeline/payloads.ts';
import { type TestDatabase, useTestDatabase } from '../../helpers/database.ts';
import { occurrences, sweepDatabase } from '../../helpers/databaseSweep.ts';
import { flatRecord, useTestPipeline } from '../../helpers/pipeline.ts';
import { thrownBy } from '../../helpers/thrown.ts';

const MAX_RECORDS = 3;

/** The workflow port as a fake: records each start, with the run as the database had it then. */
class RecordingStarter implements WorkflowStarter {
  readonly calls: Array<{ runId: string; runAtStart: IngestRun | undefined }> = [];
  readonly #database: TestDatabase;
  readonly #failure: Error | undefined;

  constructor(database: TestDatabase, failure?: Error) {
    this.#database = database;
    this.#failure = failure;
  }

  async start(runId: string): Promise<void> {
    // Another connection: it sees only what intake has committed.
    this.calls.push({ runId, runAtStart: await findIngestRun(this.#database.pool, runId) });
    if (this.#failure !== undefined) throw this.#failure;
  }

  async executionHistory(): Promise<undefined> {
    return undefined;
  }

  async executionState(runId: string): Promise<ExecutionState> {
    const started = this.#failure === undefined && this.calls.some((call) => call.runId === runId);
    return started ? 'RUNNING' : 'MISSING';
  }
}

function batch(parsed: unknown, actor: string): BatchRequest {
  return {
    raw: JSON.stringify(parsed),
    contentType: 'application/json',
    actor,
    source: 'api',
  };
}

describe('submitBatch', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);

  const intakeDeps = (workflow: WorkflowStarter): IntakeDependencies => ({
    ...pipeline.deps,
    workflow,
    maxRecordsPerBatch: MAX_RECORDS,
  });

  /** Rows of one actor's runs and their payloads: each test submits as an actor of its own. */
  async function rowsOf(actor: string): Promise<{ runs: number; payloads: number }> {
    const { rows } = await database.pool.query<{ runs: number; payloads: number }>(
      `SELECT (SELECT count(*)::int FROM ingest_runs WHERE actor = $1) AS runs,
              (SELECT count(*)::int FROM stage_payloads p JOIN ingest_runs r ON r.id = p.run_id
               WHERE r.actor = $1) AS payloads`,
      [actor],
    );
    return rows[0]!;
  }

  async function receivedPayload(run: IngestRun): Promise<ReceivedPayload> {
    const key = await pipeline.deps.keyring.runKey(database.pool, run.dataKeyId, run.id);
    return loadPayload<ReceivedPayload>(
      database.pool,
      pipeline.deps.payloadStore,
      key,
      run.id,
      RECEIVED_PAYLOAD,
    );
  }

  it('queues a valid batch: the run committed, the body sealed, then the workflow started once', async () => {
    // Prepare
    const phi = {
      mrn: 'MRN-INTAKE-1',
      name: 'Ingrid Intake',
      birthDate: '1982-08-09',
      ssn: '987-65-4301',
    };
    const request = batch(
      { records: [flatRecord(phi), flatRecord({ mrn: 'MRN-INTAKE-2', name: 'Otto Intake' })] },
      'system:intake-valid',
    );
    const starter = new RecordingStarter(database);

    // Act
    const { runId } = await submitBatch(intakeDeps(starter), request);

    // Assess
    const run = await findIngestRun(database.pool, runId);
    expect(run).toMatchObject({
      id: runId,
      status: 'queued',
      format: 'flat',
      source: 'api',
      actor: 'system:intake-valid',
      counts: { received: 2 },
      errorCode: null,
    });
    expect(starter.calls.map((call) => call.runId)).toEqual([runId]);
    expect(starter.calls[0]!.runAtStart?.status).toBe('queued');
    expect(await receivedPayload(run!)).toStrictEqual({
      contentType: 'application/json',
      body: request.raw,
    });
    const { cells } = await sweepDatabase(database.pool);
    expect(
      occurrences(cells, [...Object.values(phi), 'Otto Intake', 'MRN-INTAKE-2', '"records"']),
    ).toEqual([]);
  });

  it('keeps the body exactly as received, whitespace and key order included', async () => {
    // Prepare
    const parsed = { records: [flatRecord({ mrn: 'MRN-INTAKE-RAW' })] };
    const raw = `{\n  "records" : [ ${JSON.stringify(parsed.records[0])} ]\n}\n`;
    const starter = new RecordingStarter(database);

    // Act
    const { runId } = await submitBatch(intakeDeps(starter), {
      ...batch(parsed, 'system:intake-raw'),
      raw,
    });

    // Assess
    const run = await findIngestRun(database.pool, runId);
    expect((await receivedPayload(run!)).body).toBe(raw);
  });

  it('accepts exactly maxRecordsPerBatch records', async () => {
    // Prepare
    const records = Array.from({ length: MAX_RECORDS }, (_, index) =>
      flatRecord({ mrn: `MRN-INTAKE-MAX-${index}` }),
    );
    const starter = new RecordingStarter(database);

    // Act
    const { runId } = await submitBatch(intakeDeps(starter), batch({ records }, 'system:max'));

    // Assess
    expect((await findIngestRun(database.pool, runId))?.counts).toEqual({
      received: MAX_RECORDS,
    });
    expect(starter.calls).toHaveLength(1);
  });

  it('refuses more records than maxRecordsPerBatch with PayloadTooLargeError, storing nothing', async () => {
    // Prepare
    const actor = 'system:intake-too-large';
    const records = Array.from({ length: MAX_RECORDS + 1 }, (_, index) =>
      flatRecord({ mrn: `MRN-INTAKE-BIG-${index}` }),
    );
    const starter = new RecordingStarter(database);
    const keysBefore = await database.pool.query('SELECT 1 FROM data_keys');

    // Act
    const error = await thrownBy(() => submitBatch(intakeDeps(starter), batch({ records }, actor)));

    // Assess
    expect(error).toBeInstanceOf(PayloadTooLargeError);
    expect((error as PayloadTooLargeError).statusCode).toBe(413);
    expect((error as PayloadTooLargeError).message).not.toContain('MRN-INTAKE-BIG');
    expect(await rowsOf(actor)).toEqual({ runs: 0, payloads: 0 });
    expect((await database.pool.query('SELECT 1 FROM data_keys')).rowCount).toBe(
      keysBefore.rowCount,
    );
    expect(starter.calls).toEqual([]);
  });

  it.each([
    ['no records', {}],
    ['an empty records array', { records: [] }],
    ['records that is not an array', { records: 'Jane Doe' }],
    ['an unexpected property', { records: [flatRecord()], 'Jane Doe': '123-45-6789' }],
    ['an array body', [flatRecord()]],
    ['null', null],
    ['a string body', 'MRN-001'],
  ])(
    'refuses an envelope with %s: InputValidationError with problems, no run',
    async (label, parsed) => {
      // Prepare
      const actor = `system:intake-invalid ${label}`;
      const starter = new RecordingStarter(database);

      // Act
      const error = await thrownBy(() => submitBatch(intakeDeps(starter), batch(parsed, actor)));

      // Assess
      expect(error).toBeInstanceOf(InputValidationError);
      const invalid = error as InputValidationError;
      expect(invalid.statusCode).toBe(400);
      expect(invalid.problems.length).toBeGreaterThan(0);
      for (const problem of invalid.problems) {
        expect(Object.keys(problem).sort()).toEqual(['keyword', 'message', 'path']);
      }
      const said = JSON.stringify({ message: invalid.message, problems: invalid.problems });
      for (const phi of ['Jane Doe', '123-45-6789', 'MRN-001']) expect(said).not.toContain(phi);
      expect(await rowsOf(actor)).toEqual({ runs: 0, payloads: 0 });
      expect(starter.calls).toEqual([]);
    },
  );

  it.each([
    [
      'an SDK error',
      Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:443'), { code: 'ECONNREFUSED' }),
    ],
    [
      'a ServiceUnavailableError',
      new ServiceUnavailableError('the workflow service did not start the run'),
    ],
  ])(
    'marks the run failed when the starter throws %s, and answers ServiceUnavailableError',
    async (_, failure) => {
      // Prepare
      const actor = `system:intake-start-fails-${failure.name}`;
      const starter = new RecordingStarter(database, failure);
      const request = batch({ records: [flatRecord({ mrn: 'MRN-INTAKE-LOST?' })] }, actor);

      // Act
      const error = await thrownBy(() => submitBatch(intakeDeps(starter), request));

      // Assess
      expect(error).toBeInstanceOf(ServiceUnavailableError);
      const unavailable = error as ServiceUnavailableError;
      expect(unavailable.statusCode).toBe(503);
      expect(unavailable.expose).toBe(false);
      expect(unavailable.message).not.toContain('ECONNREFUSED');
      expect(unavailable.message).not.toContain('10.0.0.7');
      if (!(failure instanceof ServiceUnavailableError)) expect(unavailable.cause).toBe(failure);
      expect(starter.calls).toHaveLength(1);
      const runId = starter.calls[0]!.runId;
      const run = await findIngestRun(database.pool, runId);
      expect(run).toMatchObject({
        status: 'failed',
        errorCode: 'workflow-start-failed',
        actor,
        counts: { received: 1 },
      });
      expect(run?.finishedAt).toBeInstanceOf(Date);
      // The batch is kept, sealed, so the run can be started again.
      expect((await receivedPayload(run!)).body).toBe(request.raw);
      expect(await rowsOf(actor)).toEqual({ runs: 1, payloads: 1 });
    },
  );
});
