import type { Queryable } from '../db/pool.ts';
import type { ExecutionEvent, WorkflowStarter } from '../pipeline/dependencies.ts';
import { type RunViewer, visibleRun } from './runQueries.ts';

/** Re-drives are unbounded and GetExecutionHistory is rate-limited per account: read the latest. */
export const MAX_ATTEMPTS_READ = 10;
/** One GetExecutionHistory page per attempt at most; a run's execution takes far fewer. */
export const MAX_EVENTS_PER_ATTEMPT = 1000;

export interface RunHistoryDependencies {
  readonly pool: Queryable;
  readonly workflow: WorkflowStarter;
}

/** An event of one of the run's executions: the first is attempt 0, each re-drive the next. */
export interface RunHistoryEvent extends ExecutionEvent {
  readonly attempt: number;
}

export interface RunHistory {
  readonly events: readonly RunHistoryEvent[];
  /** How many of the oldest attempts (0, 1, ...) were left out, the latest being read. */
  readonly olderAttemptsOmitted: number;
  /** The attempts of which only the first MAX_EVENTS_PER_ATTEMPT events are listed. */
  readonly truncatedAttempts: readonly number[];
}

/**
 * The events of the run's latest MAX_ATTEMPTS_READ executions, attempt by attempt, read one
 * after another; an execution that does not exist (a workflow that never started) adds none.
 * 404 (RunNotFoundError) unless the viewer may see the run.
 */
export async function readRunHistory(
  deps: RunHistoryDependencies,
  runId: string | undefined,
  viewer: RunViewer,
): Promise<RunHistory> {
  const run = await visibleRun(deps.pool, runId, viewer);
  const attempts = run.redrives + 1;
  const olderAttemptsOmitted = Math.max(0, attempts - MAX_ATTEMPTS_READ);
  const events: RunHistoryEvent[] = [];
  const truncatedAttempts: number[] = [];
  for (let attempt = olderAttemptsOmitted; attempt < attempts; attempt += 1) {
    const history = await deps.workflow.executionHistory(run.id, attempt, MAX_EVENTS_PER_ATTEMPT);
    if (history === undefined) continue;
    events.push(...history.events.map((event) => ({ attempt, ...event })));
    if (!history.complete) truncatedAttempts.push(attempt);
  }
  return { events, olderAttemptsOmitted, truncatedAttempts };
}
