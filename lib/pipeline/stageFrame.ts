import { performance } from 'node:perf_hooks';
import { type TransactionClient, withTransaction } from '../db/pool.ts';
import { type AuditEntry, appendAudit } from '../db/repositories/auditLog.ts';
import {
  findIngestRun,
  type IngestRun,
  lockIngestRun,
  recordStageCompletion,
} from '../db/repositories/ingestRuns.ts';
import { insertRejections, type Rejection } from '../db/repositories/rejections.ts';
import { RunEndedError, RunNotFoundError } from '../errors.ts';
import {
  discardPayload,
  loadPayload,
  type PayloadEncoding,
  recordPayload,
  writePayload,
} from './claimCheck.ts';
import type { PipelineDependencies } from './dependencies.ts';
import { STAGE_PAYLOADS } from './payloads.ts';
import type { RunCounts, StageName, StageResult } from './stages.ts';

export interface StageContext {
  readonly run: IngestRun;
  /** The run's data key: it opens the input payload and seals the output. */
  readonly key: Buffer;
}

/** What a stage's work produces; the frame commits all of it in one transaction. */
export interface StageOutput {
  readonly counts: RunCounts;
  /** The claim-check payload the next stage reads. */
  readonly output?: unknown;
  /** How `output` is written into its payload; JSON unless the stage says otherwise. */
  readonly outputEncoding?: PayloadEncoding;
  readonly rejections?: readonly Rejection[];
  readonly audit?: readonly AuditEntry[];
  /**
   * Writes to the final tables inside the stage's transaction; may add counts, and reject
   * records that what it reads under lock stops (their audit rows are its own to write).
   */
  readonly commit?: (client: TransactionClient, run: IngestRun) => Promise<CommitOutcome>;
  /** The run has succeeded once this stage commits. */
  readonly completesRun?: boolean;
}

export interface CommitOutcome {
  readonly counts: RunCounts;
  readonly rejections?: readonly Rejection[];
  /** Audit rows of what it wrote or stopped, appended with the stage's own as its last statement. */
  readonly audit?: readonly AuditEntry[];
}

function alreadyDone(run: IngestRun, stage: StageName): boolean {
  return Object.hasOwn(run.stageTimings, stage);
}

/**
 * Runs one stage idempotently: if its output for (run, stage) is already committed it
 * returns the recorded counts; otherwise it reads the input payload, does the work, and
 * commits output, rejections, audit rows, final-table writes and run counts together.
 */
export async function runStage<Input>(
  deps: PipelineDependencies,
  stage: StageName,
  runId: string,
  work: (input: Input, context: StageContext) => Promise<StageOutput>,
): Promise<StageResult> {
  const started = performance.now();
  const run = await findIngestRun(deps.pool, runId);
  if (run === undefined) throw new RunNotFoundError(runId);
  if (alreadyDone(run, stage)) return { runId, counts: run.counts };

  const key = await deps.keyring.runKey(deps.pool, run.dataKeyId, runId);
  try {
    const input = await loadPayload<Input>(
      deps.pool,
      deps.payloadStore,
      key,
      runId,
      STAGE_PAYLOADS[stage].reads,
    );
    const result = await work(input, { run, key });
    const writes = STAGE_PAYLOADS[stage].writes;
    // Written before the transaction: neither the run's lock nor the audit chain's waits on it.
    const written =
      writes === null
        ? undefined
        : await writePayload(
            deps.payloadStore,
            key,
            runId,
            writes,
            result.output ?? null,
            result.outputEncoding,
          );
    // Set once the transaction has recorded the payload and goes to COMMIT: from then on it may
    // have committed even if an error follows, so the payload is only purged with the run.
    let recorded = false;
    try {
      return await withTransaction(deps.pool, async (client) => {
        const locked = await lockIngestRun(client, runId);
        if (locked === undefined) throw new RunNotFoundError(runId);
        // A concurrent duplicate invocation committed first: its output stands.
        if (alreadyDone(locked, stage)) return { runId, counts: locked.counts };
        // A late invocation (its state timed out, the run was marked failed) must not revive the run.
        if (locked.status === 'failed' || locked.status === 'succeeded')
          throw new RunEndedError(runId);

        if (writes !== null && written !== undefined) {
          await recordPayload(client, runId, writes, written);
        }
        await insertRejections(client, runId, stage, result.rejections ?? []);
        const committed: CommitOutcome =
          result.commit === undefined ? { counts: {} } : await result.commit(client, locked);
        await insertRejections(client, runId, stage, committed.rejections ?? []);
        const rejected = (result.rejections?.length ?? 0) + (committed.rejections?.length ?? 0);
        const updated = await recordStageCompletion(client, runId, {
          stage,
          elapsedMs: Math.round(performance.now() - started),
          counts: {
            ...result.counts,
            ...committed.counts,
            rejected: (locked.counts['rejected'] ?? 0) + rejected,
          },
          status: result.completesRun === true ? 'succeeded' : 'running',
        });
        // Last, in one statement: appending takes the audit chain's lock, which every audited
        // write in the system waits for until this transaction ends, so nothing else is done
        // while it is held.
        await appendAudit(client, deps.auditMac, [
          ...(result.audit ?? []),
          ...(committed.audit ?? []),
        ]);
        recorded = true;
        return { runId, counts: updated.counts };
      });
    } finally {
      if (written !== undefined && !recorded) {
        await discardPayload(deps.payloadStore, written, deps.logger);
      }
    }
  } finally {
    key.fill(0);
  }
}
