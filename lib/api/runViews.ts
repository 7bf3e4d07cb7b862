import type { IngestRun } from '../db/repositories/ingestRuns.ts';
import type { RejectionRow, RejectionTally } from '../db/repositories/rejections.ts';
import { WORKFLOW_START_FAILED } from '../pipeline/runExecutions.ts';
import { STAGES } from '../pipeline/stages.ts';

/** The first stage that has not committed: where an unfinished run is, or where it stopped. */
function firstUncommittedStage(run: IngestRun): string | null {
  return STAGES.find((stage) => !Object.hasOwn(run.stageTimings, stage)) ?? null;
}

function failedStageOf(run: IngestRun): string | null {
  // A run whose workflow never started failed before any stage ran.
  if (run.status !== 'failed' || run.errorCode === WORKFLOW_START_FAILED) return null;
  return firstUncommittedStage(run);
}

function durationMsOf(run: IngestRun): number | null {
  return run.finishedAt === null ? null : run.finishedAt.getTime() - run.createdAt.getTime();
}

function recordsPerSecondOf(run: IngestRun): number | null {
  const durationMs = durationMsOf(run);
  const received = run.counts['received'];
  if (durationMs === null || durationMs <= 0 || received === undefined) return null;
  return Math.round((received * 100_000) / durationMs) / 100;
}

/** A run as the API shows it: status, progress, counts and throughput; never a record's content. */
export function runView(run: IngestRun, rejectedByReason: RejectionTally) {
  const ended = run.status === 'succeeded' || run.status === 'failed';
  return {
    runId: run.id,
    status: run.status,
    currentStage: ended ? null : firstUncommittedStage(run),
    failedStage: failedStageOf(run),
    source: run.source,
    submitter: run.actor,
    counts: run.counts,
    rejectedByReason,
    stageTimings: run.stageTimings,
    errorCode: run.errorCode,
    createdAt: run.createdAt.toISOString(),
    finishedAt: run.finishedAt?.toISOString() ?? null,
    durationMs: durationMsOf(run),
    recordsPerSecond: recordsPerSecondOf(run),
    links: { self: `/api/v1/runs/${run.id}`, rejections: `/api/v1/runs/${run.id}/rejections` },
  };
}

export type RunView = ReturnType<typeof runView>;

export function rejectionView(rejection: RejectionRow) {
  return {
    recordIndex: rejection.recordIndex,
    resourceType: rejection.resourceType,
    reason: rejection.reason,
    details: rejection.details,
    stage: rejection.stage,
  };
}

export type RejectionView = ReturnType<typeof rejectionView>;
