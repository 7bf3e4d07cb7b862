import { findIngestRun, reopenFailedRun } from '../db/repositories/ingestRuns.ts';
import { findStagePayload } from '../db/repositories/stagePayloads.ts';
import { ConflictError, RunNotFoundError } from '../errors.ts';
import { type IntakeDependencies, startWorkflow } from './intake.ts';
import { RECEIVED_PAYLOAD } from './stages.ts';

/**
 * Re-drives a failed run once its fault is fixed: a new execution of the same ASL, in which
 * the stages that already committed return at once and the rest do their work.
 */
export async function redriveRun(
  deps: IntakeDependencies,
  runId: string,
): Promise<{ attempt: number }> {
  const run = await findIngestRun(deps.pool, runId);
  if (run === undefined) throw new RunNotFoundError(runId);
  if (run.status !== 'failed')
    throw new ConflictError(`only a failed run can be re-driven; this one is ${run.status}`);
  if ((await findStagePayload(deps.pool, runId, RECEIVED_PAYLOAD)) === undefined) {
    throw new ConflictError('this run no longer holds its batch and cannot be re-driven');
  }
  const attempt = await reopenFailedRun(deps.pool, runId);
  if (attempt === undefined) throw new ConflictError('the run changed while being re-driven');
  await startWorkflow(deps, runId, attempt);
  return { attempt };
}
