import { toAppError } from '../db/errors.ts';
import {
  failRunOfEndedExecution,
  findIngestRun,
  type IngestRun,
  listIdleRuns,
  markIngestRunFailed,
  reopenFailedRun,
} from '../db/repositories/ingestRuns.ts';
import { findStagePayload } from '../db/repositories/stagePayloads.ts';
import { ConflictError, RunNotFoundError, ServiceUnavailableError } from '../errors.ts';
import type { ExecutionState, PipelineDependencies, WorkflowStarter } from './dependencies.ts';
import { publish } from './outcome.ts';
import { RECEIVED_PAYLOAD } from './payloads.ts';

/** What starts, re-drives and reconciles a run's executions: the pipeline's ports and the workflow. */
export interface RunExecutionDependencies extends PipelineDependencies {
  readonly workflow: WorkflowStarter;
}

/** The error code of a run whose workflow could not be started: nothing of it has run yet. */
export const WORKFLOW_START_FAILED = 'workflow-start-failed';

/**
 * Starts execution `attempt` of a run. A run whose workflow cannot be started is marked
 * failed, so nothing waits forever unseen, and the caller gets a 503; unless the execution
 * exists after all (a start can fail after the service took it: a timeout, a lost answer).
 */
export async function startWorkflow(
  deps: RunExecutionDependencies,
  runId: string,
  attempt: number,
): Promise<void> {
  try {
    await deps.workflow.start(runId, attempt);
  } catch (error) {
    const state = await deps.workflow.executionState(runId, attempt).catch(() => 'MISSING');
    if (state !== 'MISSING') return;
    await markIngestRunFailed(deps.pool, runId, WORKFLOW_START_FAILED);
    throw error instanceof ServiceUnavailableError
      ? error
      : new ServiceUnavailableError('the workflow service did not start the run', { cause: error });
  }
}

/**
 * Re-drives a failed run once its fault is fixed: a new execution of the same ASL, in which
 * the stages that already committed return at once and the rest do their work.
 */
export async function redriveRun(
  deps: RunExecutionDependencies,
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

/** What the reconciler did with a run whose stages had not advanced for a while. */
export type Reconciliation =
  /** Its execution is still running (or the run ended meanwhile): nothing to do. */
  | 'executing'
  /** Its execution did not exist (never started, or lost with the service that ran it): started. */
  | 'resumed'
  /** Its execution ended without ending the run: the run is failed, so that it can be re-driven. */
  | 'failed';

/** The error code a run gets when its execution ended without ending it (MarkFailed never ran). */
export const ENDED_EXECUTION_CODES: Readonly<
  Record<Exclude<ExecutionState, 'RUNNING' | 'MISSING'>, string>
> = {
  SUCCEEDED: 'execution-ended',
  FAILED: 'execution-failed',
  TIMED_OUT: 'execution-timed-out',
  ABORTED: 'execution-aborted',
};

/**
 * Settles one unfinished run against its current execution. A missing execution is started
 * under the same name (every stage is idempotent, so the committed ones return at once); an
 * ended one fails the run with a reason and, when `publishes`, sends its outcome, as the
 * ASL's failure path does. A run that ended or was re-driven meanwhile is left as it is.
 */
export async function reconcileRun(
  deps: RunExecutionDependencies,
  run: IngestRun,
  options: { readonly publishes: boolean },
): Promise<Reconciliation> {
  const state = await deps.workflow.executionState(run.id, run.redrives);
  if (state === 'RUNNING') return 'executing';
  if (state === 'MISSING') {
    await startWorkflow(deps, run.id, run.redrives);
    return 'resumed';
  }
  const code = ENDED_EXECUTION_CODES[state];
  if (!(await failRunOfEndedExecution(deps.pool, run.id, run.redrives, code))) return 'executing';
  if (options.publishes) await publish(deps, run.id);
  return 'failed';
}

export interface ReconcileSettings {
  /** A run is checked once no stage has advanced it for this long. */
  readonly idleSeconds: number;
  /** At most this many runs a pass, the longest idle first. */
  readonly maxRuns: number;
}

export type ReconcileSummary = Readonly<Record<Reconciliation | 'checked' | 'errors', number>>;

/**
 * One pass of the reconciler (scheduled where deployed): every run idle past the bound is
 * settled against its execution. A run that cannot be settled now (the workflow service or
 * the database unavailable) is counted and left for the next pass.
 */
export async function reconcileIdleRuns(
  deps: RunExecutionDependencies,
  settings: ReconcileSettings,
): Promise<ReconcileSummary> {
  const summary = { checked: 0, executing: 0, resumed: 0, failed: 0, errors: 0 };
  for (const run of await listIdleRuns(deps.pool, settings.idleSeconds, settings.maxRuns)) {
    summary.checked += 1;
    try {
      summary[await reconcileRun(deps, run, { publishes: true })] += 1;
    } catch (error) {
      summary.errors += 1;
      deps.logger.warn('run not reconciled', { runId: run.id, code: toAppError(error).code });
    }
  }
  return summary;
}
