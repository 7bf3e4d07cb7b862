import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { findIngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import { acceptSubmission } from '../../../lib/pipeline/intake.ts';
import type { StageHandler } from '../../../lib/workflow/stageHandlers.ts';
import { InProcessWorkflow } from '../../../local/inProcessWorkflow.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { useDeployedEnvironment } from '../../helpers/deployedEnvironment.ts';
import { flatRecord } from '../../helpers/pipeline.ts';
import { stageFunctionHandlers } from '../../helpers/stageFunctions.ts';

describe('functions/stages: the Lambda entry points, configured from the environment', () => {
  const database = useTestDatabase();
  useDeployedEnvironment(database);

  it('runs a batch through the ASL with each Task bound to its function module', async () => {
    // Prepare
    const handlers = await stageFunctionHandlers();
    const { pipelineDependencies } = await import('../../../lib/runtime.ts');
    const { runId } = await acceptSubmission(pipelineDependencies(), {
      body: JSON.stringify({
        records: [flatRecord({ mrn: `MRN-FN-${randomBytes(3).toString('hex')}` })],
      }),
      contentType: 'application/json',
      format: 'flat',
      recordCount: 1,
      actor: 'system:functions-test',
      source: 'test',
    });

    // Act
    const execution = await new InProcessWorkflow(handlers, { retryIntervalMs: 0 }).execute(runId);

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.output).toEqual({
      runId,
      status: 'succeeded',
      counts: expect.objectContaining({ created: 1 }),
    });
    expect((await findIngestRun(database.pool, runId))?.status).toBe('succeeded');
  });

  it('a malformed stage input fails with StageInputError, which the ASL does not retry', async () => {
    // Prepare
    const { Extract: handler } = await stageFunctionHandlers();

    // Act
    const failure = handler({ runId: 'not-a-uuid' }, {} as Parameters<StageHandler>[1]);

    // Assess
    await expect(failure).rejects.toMatchObject({
      name: 'StageInputError',
      code: 'stage-input-invalid',
    });
  });
});
