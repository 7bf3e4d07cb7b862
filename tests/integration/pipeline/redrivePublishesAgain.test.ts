import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findIngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import { listPipelineEvents } from '../../../lib/db/repositories/pipelineEvents.ts';
import { KeyServiceRefusedError, KeyServiceUnavailableError } from '../../../lib/errors.ts';
import { redriveRun } from '../../../lib/pipeline/runExecutions.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.ts';
import { FaultyKeyService } from '../../helpers/keyServices.ts';
import { createTestPipeline, flatRecord } from '../../helpers/pipeline.ts';
import { RecordingStarter } from '../../helpers/workflowStarters.ts';

describe('a re-driven run that fails again', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    await database.drop();
  });

  it('publishes its new outcome, with the new error code', async () => {
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
