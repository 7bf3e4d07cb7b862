import middy from '@middy/core';
import { config } from '../../lib/config.ts';
import { type ReconcileSummary, reconcileIdleRuns } from '../../lib/pipeline/runExecutions.ts';
import { intakeDependencies } from '../../lib/runtime.ts';

/**
 * The run reconciler, on a schedule: every run queued or running that no stage advanced for
 * RECONCILE_IDLE_SECONDS is checked against its execution, which is started again when it is
 * gone; a run whose execution ended without ending it is failed, so that it can be re-driven.
 */
export const handler = middy<unknown, ReconcileSummary>().handler(async () => {
  const deps = intakeDependencies();
  const summary = await reconcileIdleRuns(deps, config().reconcile);
  deps.logger.info('idle runs reconciled', { ...summary });
  return summary;
});
