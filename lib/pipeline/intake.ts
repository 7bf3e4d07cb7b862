import { randomUUID } from 'node:crypto';
import { withTransaction } from '../db/pool.ts';
import {
  type InputFormat,
  insertIngestRun,
  markIngestRunFailed,
} from '../db/repositories/ingestRuns.ts';
import { InputValidationError, PayloadTooLargeError, ServiceUnavailableError } from '../errors.ts';
import { createFlatEnvelopeValidator } from '../fhir/validation.ts';
import type { WorkflowStarter } from '../workflow/workflowStarter.ts';
import { storePayload } from './claimCheck.ts';
import type { PipelineDependencies } from './dependencies.ts';
import type { ReceivedPayload } from './extract.ts';
import { RECEIVED_PAYLOAD } from './stages.ts';

export interface Submission {
  readonly body: string;
  readonly contentType: string;
  readonly format: InputFormat;
  readonly recordCount: number;
  readonly actor: string;
  readonly source: string;
}

/**
 * Accepts a batch: a fresh data key for the run, the raw batch sealed under it into the
 * claim check, and the run row, all committed together before any workflow starts.
 */
export async function acceptSubmission(
  deps: PipelineDependencies,
  submission: Submission,
): Promise<{ runId: string }> {
  const runId = randomUUID();
  await withTransaction(deps.pool, async (client) => {
    const { id: dataKeyId, key } = await deps.keyring.createRunKey(client, runId);
    try {
      await insertIngestRun(client, {
        id: runId,
        format: submission.format,
        source: submission.source,
        actor: submission.actor,
        dataKeyId,
        counts: { received: submission.recordCount },
      });
      const received: ReceivedPayload = {
        contentType: submission.contentType,
        body: submission.body,
      };
      await storePayload(client, key, runId, RECEIVED_PAYLOAD, received);
    } finally {
      key.fill(0);
    }
  });
  return { runId };
}

export interface BatchRequest {
  /** The body exactly as received: it is what the claim check keeps. */
  readonly raw: string;
  /** The same body, parsed. */
  readonly parsed: unknown;
  readonly contentType: string;
  readonly actor: string;
  readonly source: 'api' | 'queue';
}

export interface IntakeDependencies extends PipelineDependencies {
  readonly workflow: WorkflowStarter;
  readonly maxRecordsPerBatch: number;
}

function validateEnvelope(parsed: unknown, maxRecords: number): number {
  const records = (parsed as { records?: unknown } | null)?.records;
  if (Array.isArray(records) && records.length > maxRecords) {
    throw new PayloadTooLargeError(`a batch holds at most ${maxRecords} records`);
  }
  // Compiled once per limit and cached by lib/fhir/validation.ts.
  const result = createFlatEnvelopeValidator(maxRecords)(parsed);
  if (!result.ok) throw new InputValidationError('the batch envelope is invalid', result.problems);
  return result.value.records.length;
}

/**
 * The one way a batch enters the pipeline (API and queue alike): envelope checked, the
 * run and its sealed batch committed, then the workflow started by run id. A run whose
 * workflow cannot be started is marked failed, so nothing waits forever unseen.
 */
export async function submitBatch(
  deps: IntakeDependencies,
  request: BatchRequest,
): Promise<{ runId: string }> {
  const recordCount = validateEnvelope(request.parsed, deps.maxRecordsPerBatch);
  const { runId } = await acceptSubmission(deps, {
    body: request.raw,
    contentType: request.contentType,
    format: 'flat',
    recordCount,
    actor: request.actor,
    source: request.source,
  });
  try {
    await deps.workflow.start(runId);
  } catch (error) {
    await markIngestRunFailed(deps.pool, runId, 'workflow-start-failed');
    throw error instanceof ServiceUnavailableError
      ? error
      : new ServiceUnavailableError('the workflow service did not start the run', { cause: error });
  }
  return { runId };
}
