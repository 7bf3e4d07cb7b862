import {
  type ApiClient,
  ApiProblemError,
  ApiUnreachableError,
  type RunCounts,
  type RunState,
  RunTimeoutError,
} from './apiClient.ts';
import type { Batch, BatchPlan } from './batchPlan.ts';
import { idempotencyKey } from './inputIdentity.ts';
import { type BatchResult, failedOutcomes, succeededOutcomes } from './outcomes.ts';
import { type BatchProgress, type ResumeState, saveBatchProgress } from './resumeState.ts';

export interface DeliveryOptions {
  readonly client: ApiClient;
  readonly plan: BatchPlan;
  readonly state: ResumeState;
  readonly contentHash: string;
  /** Send at most this many batches, then stop. */
  readonly maxBatches: number | undefined;
  readonly runTimeoutMs: number;
  readonly pollIntervalMs: number;
  /** Called whenever the count of records done or the current activity changes. */
  readonly onProgress: (progress: DeliveryProgress) => void;
}

export interface DeliveryProgress {
  /** Records whose batch ended, or that were never to be sent. */
  readonly done: number;
  /** Of those, the ones done before this invocation. */
  readonly doneAtStart: number;
  /** e.g. "batch 3/6 running". */
  readonly activity: string;
}

export interface BatchFailure {
  readonly batch: Batch;
  /** The failed run's error code, the problem's type code, api-unreachable or run-timeout. */
  readonly code: string;
  /** What happened and, where the user can do something about it, what to do. */
  readonly message: string;
}

export interface DeliveryReport {
  /** Every batch with a known outcome: finished before or now, or failed now. */
  readonly results: ReadonlyMap<number, BatchResult>;
  readonly sentNow: number;
  /** The counts of the runs seen to end in this delivery, by run id. */
  readonly runCounts: ReadonlyMap<string, RunCounts>;
  /** The batch that stopped the delivery, when one did. */
  readonly failure: BatchFailure | undefined;
}

/** Expected failures end the delivery with a report; anything else is a bug and propagates. */
function isDeliveryError(
  error: unknown,
): error is ApiProblemError | ApiUnreachableError | RunTimeoutError {
  return (
    error instanceof ApiProblemError ||
    error instanceof ApiUnreachableError ||
    error instanceof RunTimeoutError
  );
}

/** Hints for the refusals a user can fix from the command line. */
const HINTS: ReadonlyMap<number, string> = new Map([
  [413, "lower --batch-size to at most the server's MAX_RECORDS_PER_BATCH"],
  [401, 'the token was refused: pass a valid one with --token or ETL_TOKEN'],
  [403, 'the token lacks the scope system/Patient.c'],
  [
    422,
    "this batch's Idempotency-Key was used with another body; check --batch-size and the input",
  ],
]);

function failureOf(
  batch: Batch,
  error: ApiProblemError | ApiUnreachableError | RunTimeoutError,
): BatchFailure {
  const hint = error instanceof ApiProblemError ? HINTS.get(error.status) : undefined;
  const message = hint === undefined ? error.message : `${error.message} (${hint})`;
  return { batch, code: error.code, message };
}

function attemptOf(saved: BatchProgress | undefined): number {
  if (saved === undefined) return 0;
  return saved.status === 'failed' ? saved.attempt + 1 : saved.attempt;
}

/** Sends one batch, or picks up its run from an earlier invocation, and waits for the run. */
async function deliverBatch(
  options: DeliveryOptions,
  batch: Batch,
  saved: BatchProgress | undefined,
  onPoll: (run: RunState) => void,
): Promise<{ readonly progress: BatchProgress; readonly counts: RunCounts }> {
  const { client, state } = options;
  const attempt = attemptOf(saved);
  const wait = { pollIntervalMs: options.pollIntervalMs, timeoutMs: options.runTimeoutMs, onPoll };
  let run: RunState | undefined;
  if (saved?.status === 'sent') {
    try {
      run = await client.waitForRun(saved.runId, wait);
    } catch (error) {
      // The server no longer knows the run (its database was reset): send the batch again.
      if (!(error instanceof ApiProblemError && error.status === 404)) throw error;
    }
  }
  if (run === undefined) {
    const accepted = await client.submitBatch({
      body: batch.body(),
      contentType: batch.contentType,
      idempotencyKey: idempotencyKey({
        contentHash: options.contentHash,
        batchSize: state.batchSize,
        batchIndex: batch.index,
        attempt,
      }),
    });
    saveBatchProgress(state, {
      index: batch.index,
      attempt,
      status: 'sent',
      runId: accepted.runId,
      errorCode: null,
      outcomes: [],
    });
    run = await client.waitForRun(accepted.runId, wait);
  }
  const count = batch.records.length;
  const outcomes =
    run.status === 'succeeded'
      ? succeededOutcomes(count, await client.listRejections(run.runId))
      : failedOutcomes(count, run.errorCode ?? 'run-failed');
  const progress: BatchProgress = {
    index: batch.index,
    attempt,
    status: run.status === 'succeeded' ? 'succeeded' : 'failed',
    runId: run.runId,
    errorCode: run.errorCode,
    outcomes,
  };
  saveBatchProgress(state, progress);
  return { progress, counts: run.counts };
}

/**
 * Sends the batches in order, one run at a time, so that a batch finds the patients the
 * batches before it stored. Batches that succeeded before are skipped; a batch whose run
 * failed is sent again. Stops at the first batch that fails, or after maxBatches.
 */
export async function deliverBatches(options: DeliveryOptions): Promise<DeliveryReport> {
  const { plan, state } = options;
  const results = new Map<number, BatchResult>();
  const runCounts = new Map<string, RunCounts>();
  for (const [index, saved] of state.batches) {
    if (saved.status !== 'sent') results.set(index, saved);
  }
  const finishedBefore = new Set(
    [...state.batches.values()]
      .filter((saved) => saved.status === 'succeeded')
      .map((saved) => saved.index),
  );
  const succeededBefore = (batch: Batch) => finishedBefore.has(batch.index);
  let done = plan.placements.filter((placement) => placement.kind === 'too-large').length;
  for (const batch of plan.batches) if (succeededBefore(batch)) done += batch.records.length;

  const doneAtStart = done;
  const report = (activity: string) => options.onProgress({ done, doneAtStart, activity });
  let sentNow = 0;
  const total = plan.batches.length;
  for (const batch of plan.batches) {
    if (succeededBefore(batch)) continue;
    if (options.maxBatches !== undefined && sentNow >= options.maxBatches) break;
    const label = `batch ${batch.index + 1}/${total}`;
    report(`${label} sending`);
    sentNow += 1;
    let progress: BatchProgress;
    try {
      const delivered = await deliverBatch(options, batch, state.batches.get(batch.index), (run) =>
        report(`${label} ${run.status}`),
      );
      progress = delivered.progress;
      runCounts.set(progress.runId, delivered.counts);
    } catch (error) {
      if (!isDeliveryError(error)) throw error;
      const saved = state.batches.get(batch.index);
      results.set(batch.index, {
        runId: saved?.status === 'sent' ? saved.runId : null,
        outcomes: failedOutcomes(batch.records.length, error.code),
      });
      return { results, sentNow, runCounts, failure: failureOf(batch, error) };
    }
    results.set(batch.index, progress);
    done += batch.records.length;
    report(`${label} ${progress.status}`);
    if (progress.status === 'failed') {
      const code = progress.errorCode ?? 'run-failed';
      const message = `run ${progress.runId} failed (${code}); run the same command again to send the batch again`;
      return { results, sentNow, runCounts, failure: { batch, code, message } };
    }
  }
  return { results, sentNow, runCounts, failure: undefined };
}

/**
 * The counts of these runs: those seen to end in this delivery as they ended, the others
 * (ended in an earlier invocation) read again. A run that has not ended, or that the API no
 * longer knows, has none; an unreachable API ends the reading, so it costs one request's
 * retries, not one per run.
 */
export async function endedRunCounts(
  client: ApiClient,
  runIds: ReadonlySet<string>,
  seen: ReadonlyMap<string, RunCounts>,
): Promise<Map<string, RunCounts>> {
  const counts = new Map<string, RunCounts>();
  const unseen: string[] = [];
  for (const runId of runIds) {
    const known = seen.get(runId);
    if (known === undefined) unseen.push(runId);
    else counts.set(runId, known);
  }
  for (const runId of unseen) {
    let run: RunState;
    try {
      run = await client.getRun(runId);
    } catch (error) {
      if (error instanceof ApiUnreachableError) break;
      if (error instanceof ApiProblemError) continue;
      throw error;
    }
    if (run.status === 'succeeded' || run.status === 'failed') counts.set(runId, run.counts);
  }
  return counts;
}
