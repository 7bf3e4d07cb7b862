import { randomUUID } from 'node:crypto';
import { withTransaction } from '../db/pool.ts';
import { type InputFormat, insertIngestRun } from '../db/repositories/ingestRuns.ts';
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
