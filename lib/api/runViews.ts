import type { IngestRun } from '../db/repositories/ingestRuns.ts';
import type { RejectionRow } from '../db/repositories/rejections.ts';

/** A run as the API shows it: status, progress and counts; never a record's content. */
export function runView(run: IngestRun) {
  return {
    runId: run.id,
    status: run.status,
    currentStage: run.currentStage,
    counts: run.counts,
    stageTimings: run.stageTimings,
    errorCode: run.errorCode,
    createdAt: run.createdAt.toISOString(),
    finishedAt: run.finishedAt?.toISOString() ?? null,
    links: { self: `/api/v1/runs/${run.id}`, rejections: `/api/v1/runs/${run.id}/rejections` },
  };
}

export function rejectionView(rejection: RejectionRow) {
  return {
    recordIndex: rejection.recordIndex,
    resourceType: rejection.resourceType,
    reason: rejection.reason,
    details: rejection.details,
    stage: rejection.stage,
  };
}
