import { createHash, randomUUID } from 'node:crypto';
import { DEFAULT_RUN_IDLE_SECONDS } from '../config.ts';
import { withTransaction } from '../db/pool.ts';
import { claimIdempotencyKey, findIdempotencyKey } from '../db/repositories/idempotencyKeys.ts';
import {
  findIngestRun,
  type InputFormat,
  insertIngestRun,
  type RunSource,
  type RunStatus,
} from '../db/repositories/ingestRuns.ts';
import type { StagePayloadRecord } from '../db/repositories/stagePayloads.ts';
import {
  ConflictError,
  IdempotencyConflictError,
  InputValidationError,
  ServiceUnavailableError,
} from '../errors.ts';
import { discardPayload, recordPayload, writePayload } from './claimCheck.ts';
import type { PipelineDependencies } from './dependencies.ts';
import { classifyBatch } from './envelopes.ts';
import { RECEIVED_PAYLOAD, type ReceivedPayload } from './payloads.ts';
import {
  type RunExecutionDependencies,
  reconcileRun,
  redriveRun,
  startWorkflow,
} from './runExecutions.ts';
import type { SubmissionOutcome } from './stages.ts';

export interface Submission {
  readonly body: string;
  readonly contentType: string;
  readonly format: InputFormat;
  readonly recordCount: number;
  readonly actor: string;
  readonly source: string;
  readonly idempotency?: {
    readonly key: string;
    readonly bodyHash: Buffer;
    readonly ttlSeconds: number;
  };
}

/** A concurrent request claimed the same Idempotency-Key first: this one's transaction rolls back. */
class IdempotencyKeyTaken extends Error {}

/**
 * Accepts a batch: a fresh data key for the run, the raw batch sealed under it into the
 * claim check, and the run row, all committed together before any workflow starts.
 */
export async function acceptSubmission(
  deps: PipelineDependencies,
  submission: Submission,
): Promise<{ runId: string }> {
  const runId = randomUUID();
  const { idempotency } = submission;
  let written: StagePayloadRecord | undefined;
  // Set once the transaction has recorded the batch and goes to COMMIT (see runStage).
  let recorded = false;
  try {
    await withTransaction(deps.pool, async (client) => {
      const { id: dataKeyId, key } = await deps.keyring.createRunKey(client, runId);
      try {
        const received: ReceivedPayload = {
          contentType: submission.contentType,
          body: submission.body,
        };
        // The run's key is made in this transaction, so the batch is written in it too, but
        // before the run row and the Idempotency-Key claim, so no one waits on the write.
        // In V8's format: the body is one string, copied as it is, where JSON would escape
        // every quote of a JSON body and Extract unescape them (3 ms a batch of 1,000 records).
        written = await writePayload(
          deps.payloadStore,
          key,
          runId,
          RECEIVED_PAYLOAD,
          received,
          'binary',
        );
        await insertIngestRun(client, {
          id: runId,
          format: submission.format,
          source: submission.source,
          actor: submission.actor,
          dataKeyId,
          counts: { received: submission.recordCount },
          ...(idempotency === undefined
            ? {}
            : { idempotencyKey: idempotency.key, bodyHash: idempotency.bodyHash }),
        });
        if (idempotency !== undefined) {
          const claimed = await claimIdempotencyKey(client, {
            actor: submission.actor,
            key: idempotency.key,
            bodyHash: idempotency.bodyHash,
            runId,
            ttlSeconds: idempotency.ttlSeconds,
          });
          if (!claimed) throw new IdempotencyKeyTaken();
        }
        await recordPayload(client, runId, RECEIVED_PAYLOAD, written);
        recorded = true;
      } finally {
        key.fill(0);
      }
    });
  } finally {
    if (written !== undefined && !recorded) {
      await discardPayload(deps.payloadStore, written, deps.logger);
    }
  }
  return { runId };
}

export interface BatchRequest {
  /** The body exactly as received: it is what the claim check keeps. */
  readonly raw: string;
  /** The media type without parameters: it tells the flat envelope, a Bundle and NDJSON apart. */
  readonly contentType: string;
  readonly actor: string;
  readonly source: RunSource;
  /** The client's Idempotency-Key, if it sent one. */
  readonly idempotencyKey?: string;
}

/** How long an Idempotency-Key is remembered. */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export interface IntakeDependencies extends RunExecutionDependencies {
  readonly maxRecordsPerBatch: number;
  /**
   * A retried request finds its run unfinished and idle this long: its execution is checked,
   * so that a retry never waits on a run whose execution is gone.
   */
  readonly runIdleSeconds?: number;
}

export interface SubmissionResult {
  readonly runId: string;
  readonly outcome: SubmissionOutcome;
  /** The run's status once the submission is settled. */
  readonly status: RunStatus;
}

/**
 * A retry of an earlier submission (same actor, Idempotency-Key and body): its run as it is,
 * unless the retry has a reason to be. A failed run is re-driven, and an unfinished run that
 * no stage advanced for a while is checked against its execution (started again if it is
 * gone, failed and then re-driven if it ended), so that the retry loads the batch.
 */
async function settleRetry(deps: IntakeDependencies, runId: string): Promise<SubmissionResult> {
  let run = await findIngestRun(deps.pool, runId);
  if (run === undefined)
    throw new ServiceUnavailableError('the run of this Idempotency-Key vanished');
  let outcome: SubmissionOutcome = 'replayed';
  const idleMs = (deps.runIdleSeconds ?? DEFAULT_RUN_IDLE_SECONDS) * 1000;
  if (
    (run.status === 'queued' || run.status === 'running') &&
    deps.now().getTime() - run.updatedAt.getTime() >= idleMs
  ) {
    // Not published: this retry re-drives the run at once, and its end is published then.
    if ((await reconcileRun(deps, run, { publishes: false })) === 'resumed') outcome = 'resumed';
    run = (await findIngestRun(deps.pool, runId)) ?? run;
  }
  if (run.status === 'failed') {
    try {
      await redriveRun(deps, runId);
      outcome = 'redriven';
    } catch (error) {
      // A concurrent retry re-drove it first.
      if (
        !(error instanceof ConflictError) ||
        (await findIngestRun(deps.pool, runId))?.status === 'failed'
      )
        throw error;
    }
    run = (await findIngestRun(deps.pool, runId)) ?? run;
  }
  return { runId, outcome, status: run.status };
}

/**
 * The one way a batch enters the pipeline (API and queue alike): envelope checked, the
 * run and its sealed batch committed, then the workflow started by run id. A run whose
 * workflow cannot be started is marked failed, so nothing waits forever unseen.
 */
export async function submitBatch(
  deps: IntakeDependencies,
  request: BatchRequest,
): Promise<SubmissionResult> {
  const { format, recordCount } = classifyBatch(
    request.raw,
    request.contentType,
    deps.maxRecordsPerBatch,
  );
  const { idempotencyKey } = request;
  if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
    throw new InputValidationError('the Idempotency-Key header is malformed', [
      {
        path: '/headers/idempotency-key',
        keyword: 'pattern',
        message: 'must be 1 to 255 visible ASCII characters',
      },
    ]);
  }
  const bodyHash = createHash('sha256').update(request.raw).digest();
  const replay = async () => {
    if (idempotencyKey === undefined) return undefined;
    const known = await findIdempotencyKey(deps.pool, request.actor, idempotencyKey);
    if (known === undefined) return undefined;
    if (!known.bodyHash.equals(bodyHash)) {
      throw new IdempotencyConflictError('this Idempotency-Key was used with a different body');
    }
    return settleRetry(deps, known.runId);
  };
  const earlier = await replay();
  if (earlier !== undefined) return earlier;

  let runId: string;
  try {
    ({ runId } = await acceptSubmission(deps, {
      body: request.raw,
      contentType: request.contentType,
      format,
      recordCount,
      actor: request.actor,
      source: request.source,
      ...(idempotencyKey === undefined
        ? {}
        : { idempotency: { key: idempotencyKey, bodyHash, ttlSeconds: IDEMPOTENCY_TTL_SECONDS } }),
    }));
  } catch (error) {
    if (!(error instanceof IdempotencyKeyTaken)) throw error;
    const raced = await replay();
    if (raced === undefined)
      throw new ServiceUnavailableError('the Idempotency-Key is being claimed');
    return raced;
  }
  await startWorkflow(deps, runId, 0);
  return { runId, outcome: 'accepted', status: 'queued' };
}
