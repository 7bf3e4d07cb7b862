import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findIngestRun, markIngestRunFailed } from '../../../lib/db/repositories/ingestRuns.ts';
import { ServiceUnavailableError } from '../../../lib/errors.ts';
import {
  type RunExecutionDependencies,
  reconcileRun,
  redriveRun,
  startWorkflow,
} from '../../../lib/pipeline/runExecutions.ts';
import {
  type ExecutionState,
  executionName,
  type WorkflowStarter,
} from '../../../lib/workflow/workflowStarter.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.ts';
import { createTestPipeline, flatRecord, type TestPipeline } from '../../helpers/pipeline.ts';
import { thrownBy } from '../../helpers/thrown.ts';
import { RecordingStarter } from '../../helpers/workflowStarters.ts';

describe('reconcileRun', () => {
  let database: TestDatabase;
  let pipeline: TestPipeline;

  beforeAll(async () => {
    database = await createTestDatabase();
    pipeline = createTestPipeline(database);
  });

  afterAll(async () => {
    await database.drop();
  });

  it('leaves a run re-driven since it was read: the execution that ended was an earlier one', async () => {
    // Prepare: read while its first execution had failed, then re-driven by someone else.
    const starter = new RecordingStarter();
    const deps: RunExecutionDependencies = { ...pipeline.deps, workflow: starter };
    const runId = await pipeline.submit([flatRecord({ mrn: 'MRN-RECONCILE-RACE' })]);
    starter.states.set(executionName(runId, 0), 'FAILED');
    const readBefore = await findIngestRun(database.pool, runId);
    await markIngestRunFailed(database.pool, runId, 'stage-timeout');
    await redriveRun(deps, runId);

    // Act
    const reconciled = await reconcileRun(deps, readBefore!, { publishes: true });

    // Assess
    expect(reconciled).toBe('executing');
    expect(await findIngestRun(database.pool, runId)).toMatchObject({
      status: 'running',
      redrives: 1,
      errorCode: null,
    });
    const events = await database.pool.query('SELECT 1 FROM pipeline_events WHERE run_id = $1', [
      runId,
    ]);
    expect(events.rowCount).toBe(0);
    expect(starter.calls).toEqual([{ runId, attempt: 1 }]);
  });
});

describe('startWorkflow', () => {
  let database: TestDatabase;
  let pipeline: TestPipeline;

  /** A start whose answer is lost: it throws, and the execution is as `state` says. */
  const lostAnswer = (state: ExecutionState): WorkflowStarter => ({
    start: async () => {
      throw new ServiceUnavailableError('the workflow service did not answer');
    },
    executionState: async () => state,
  });

  beforeAll(async () => {
    database = await createTestDatabase();
    pipeline = createTestPipeline(database);
  });

  afterAll(async () => {
    await database.drop();
  });

  it('takes a start that failed after the service took it as started', async () => {
    // Prepare
    const runId = await pipeline.submit([flatRecord({ mrn: 'MRN-START-TAKEN' })]);

    // Act
    await startWorkflow({ ...pipeline.deps, workflow: lostAnswer('RUNNING') }, runId, 0);

    // Assess
    expect(await findIngestRun(database.pool, runId)).toMatchObject({
      status: 'queued',
      errorCode: null,
    });
  });

  it('fails the run, and answers 503, when no execution came of the start', async () => {
    // Prepare
    const runId = await pipeline.submit([flatRecord({ mrn: 'MRN-START-LOST' })]);

    // Act
    const error = await thrownBy(() =>
      startWorkflow({ ...pipeline.deps, workflow: lostAnswer('MISSING') }, runId, 0),
    );

    // Assess
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect(await findIngestRun(database.pool, runId)).toMatchObject({
      status: 'failed',
      errorCode: 'workflow-start-failed',
    });
  });
});
