import { describe, expect, it } from 'vitest';
import { findIngestRun, markIngestRunFailed } from '../../../lib/db/repositories/ingestRuns.ts';
import { listPipelineEvents } from '../../../lib/db/repositories/pipelineEvents.ts';
import {
  KeyServiceRefusedError,
  KeyServiceUnavailableError,
  ServiceUnavailableError,
} from '../../../lib/errors.ts';
import type { ExecutionState, WorkflowStarter } from '../../../lib/pipeline/dependencies.ts';
import {
  type RunExecutionDependencies,
  reconcileRun,
  redriveRun,
  startWorkflow,
} from '../../../lib/pipeline/runExecutions.ts';
import { executionName } from '../../../lib/workflow/workflowStarter.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { FaultyKeyService } from '../../helpers/keyServices.ts';
import { createTestPipeline, flatRecord, useTestPipeline } from '../../helpers/pipeline.ts';
import { thrownBy } from '../../helpers/thrown.ts';
import { RecordingStarter } from '../../helpers/workflowStarters.ts';

describe('reconcileRun', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);

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

describe('redriveRun', () => {
  const database = useTestDatabase();

  it('publishes the outcome of a re-driven run that fails again, with its new error code', async () => {
    // Prepare: the blind-index key cannot be had; first the service is down, then it refuses
    let fault: Error = new KeyServiceUnavailableError('KMS unreachable');
    const keyService = new FaultyKeyService((call) =>
      call.context['purpose'] === 'blind-index' ? fault : undefined,
    );
    const pipeline = createTestPipeline(database, { keyService });
    const { runId, execution } = await pipeline.ingest([flatRecord({ mrn: 'MRN-REDRIVE-TWICE' })]);
    expect(execution.status).toBe('FAILED');
    expect((await findIngestRun(database.pool, runId))?.errorCode).toBe('key-service-unavailable');
    fault = new KeyServiceRefusedError('KMS refused (AccessDeniedException)');
    const starter = new RecordingStarter();

    // Act
    await redriveRun({ ...pipeline.deps, workflow: starter }, runId);
    const again = await pipeline.workflow.execute(runId);

    // Assess
    expect(again.status).toBe('FAILED');
    const run = await findIngestRun(database.pool, runId);
    expect(run).toMatchObject({ status: 'failed', errorCode: 'key-service-refused' });
    expect(run?.publishedAt).toBeInstanceOf(Date);
    const events = await listPipelineEvents(database.pool, runId);
    // Each execution's outcome reaches the outside world: the last one names the last failure.
    expect(events.map((event) => event.body['errorCode'])).toEqual([
      'key-service-unavailable',
      'key-service-refused',
    ]);
  });
});

describe('startWorkflow', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);

  /** A start whose answer is lost: it throws, and the execution is as `state` says. */
  const lostAnswer = (state: ExecutionState): WorkflowStarter => ({
    start: async () => {
      throw new ServiceUnavailableError('the workflow service did not answer');
    },
    executionState: async () => state,
    executionHistory: async () => undefined,
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
