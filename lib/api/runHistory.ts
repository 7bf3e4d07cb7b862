import type { Queryable } from '../db/pool.ts';
import { findIngestRun } from '../db/repositories/ingestRuns.ts';
import type { ExecutionEvent, WorkflowStarter } from '../pipeline/dependencies.ts';

export interface RunHistoryDependencies {
  readonly pool: Queryable;
  readonly workflow: WorkflowStarter;
}

/** An event of one of the run's executions: the first is attempt 0, each re-drive the next. */
export interface RunHistoryEvent extends ExecutionEvent {
  readonly attempt: number;
}

/**
 * The events of every execution of the run, attempt by attempt; an execution that does not
 * exist (a workflow that never started) adds none. `undefined` when there is no such run.
 */
export async function readRunHistory(
  deps: RunHistoryDependencies,
  runId: string,
): Promise<RunHistoryEvent[] | undefined> {
  const run = await findIngestRun(deps.pool, runId);
  if (run === undefined) return undefined;
  const attempts = Array.from({ length: run.redrives + 1 }, (_, attempt) => attempt);
  const histories = await Promise.all(
    attempts.map((attempt) => deps.workflow.executionHistory(runId, attempt)),
  );
  return histories.flatMap((events, attempt) =>
    (events ?? []).map((event) => ({ attempt, ...event })),
  );
}
