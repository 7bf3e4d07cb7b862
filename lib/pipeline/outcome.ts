import { checkpointAtRunEnd } from '../audit/auditCheckpoints.ts';
import {
  findIngestRun,
  markIngestRunFailed,
  markIngestRunPublished,
} from '../db/repositories/ingestRuns.ts';
import {
  displayableErrorName,
  errorCodeForName,
  InternalError,
  RunNotFoundError,
} from '../errors.ts';
import { purgeRunPayloads } from './claimCheck.ts';
import type { PipelineDependencies } from './dependencies.ts';
import type { RunOutcome } from './stages.ts';

/** MarkFailed: record why the run failed, as a stable error code; a run that already ended keeps its status. */
export async function markFailed(
  deps: PipelineDependencies,
  runId: string,
  errorName: string,
): Promise<RunOutcome> {
  const run = await markIngestRunFailed(deps.pool, runId, errorCodeForName(errorName));
  if (run === undefined) throw new RunNotFoundError(runId);
  return { runId, counts: run.counts, status: run.status === 'succeeded' ? 'succeeded' : 'failed' };
}

/**
 * Publish: send the run's outcome event once, checkpoint the audit chain, then drop the
 * claim-check payloads of a run that succeeded.
 */
export async function publish(deps: PipelineDependencies, runId: string): Promise<RunOutcome> {
  const run = await findIngestRun(deps.pool, runId);
  if (run === undefined) throw new RunNotFoundError(runId);
  if (run.status !== 'succeeded' && run.status !== 'failed') {
    throw new InternalError(`run ${runId} reached Publish while ${run.status}`);
  }
  if (run.publishedAt === null) {
    await deps.events.publish({
      type: run.status === 'succeeded' ? 'ingest.run.succeeded' : 'ingest.run.failed',
      runId,
      attempt: run.redrives,
      status: run.status,
      counts: run.counts,
      errorCode: run.errorCode,
      occurredAt: (run.finishedAt ?? deps.now()).toISOString(),
    });
    await markIngestRunPublished(deps.pool, runId);
  }
  await checkpointAtRunEnd(deps);
  // A failed run keeps its payloads so that it can be re-driven once the fault is fixed. A
  // succeeded run's are dropped now if the store answers; if not, the run stays succeeded and
  // published, and the scheduled purge (purgeExpired) takes them once the run is an hour old.
  if (run.status === 'succeeded') {
    try {
      await purgeRunPayloads(deps.pool, deps.payloadStore, runId);
    } catch (error) {
      deps.logger.warn('claim-check payloads not purged; the scheduled purge will', {
        errorName: error instanceof Error ? displayableErrorName(error.name) : 'unknown',
      });
    }
  }
  return { runId, counts: run.counts, status: run.status };
}
