import type { Config } from '../config.ts';
import { purgeRunPayloads } from '../pipeline/claimCheck.ts';
import type { PayloadStore } from '../pipeline/payloadStore.ts';
import type { Queryable } from './pool.ts';
import { purgeExpiredIdempotencyKeys } from './repositories/idempotencyKeys.ts';
import { purgeFullRateLimitBuckets } from './repositories/rateLimits.ts';
import { findSucceededRunsHoldingPayloads } from './repositories/stagePayloads.ts';

/**
 * How long a succeeded run keeps payloads Publish did not purge: statemachine/ingest.asl.json's
 * TimeoutSeconds, past which no execution that could still read them is running.
 */
export const ENDED_RUN_PAYLOAD_SECONDS = 3600;

/** Rows each purge deleted in one pass. */
export interface PurgeSummary {
  readonly idempotencyKeys: number;
  readonly rateLimitBuckets: number;
  readonly stagePayloads: number;
}

/**
 * One pass of the scheduled purges, each of at most `purge.batchSize` rows (the payloads: of the
 * runs those rows belong to, objects and all): what would otherwise be kept for ever though
 * nothing reads it any more.
 */
export async function purgeExpired(
  db: Queryable,
  payloads: PayloadStore,
  settings: Pick<Config, 'purge' | 'rateLimit'>,
): Promise<PurgeSummary> {
  const { batchSize } = settings.purge;
  const bucket = {
    capacity: settings.rateLimit.burst,
    perSecond: settings.rateLimit.perMinute / 60,
  };
  return {
    idempotencyKeys: await purgeExpiredIdempotencyKeys(db, batchSize),
    rateLimitBuckets: await purgeFullRateLimitBuckets(db, bucket, batchSize),
    stagePayloads: await purgeEndedRunPayloads(db, payloads, batchSize),
  };
}

/** The payloads of succeeded runs Publish left, purged run by run as Publish does. */
async function purgeEndedRunPayloads(
  db: Queryable,
  payloads: PayloadStore,
  batchSize: number,
): Promise<number> {
  let deleted = 0;
  let failure: unknown;
  for (const runId of await findSucceededRunsHoldingPayloads(
    db,
    ENDED_RUN_PAYLOAD_SECONDS,
    batchSize,
  )) {
    // One run the store cannot purge now must not keep the others' payloads: the rest are
    // purged, then the first failure is raised (the next pass starts with the oldest again).
    try {
      deleted += await purgeRunPayloads(db, payloads, runId);
    } catch (error) {
      failure ??= error;
    }
  }
  if (failure !== undefined) throw failure;
  return deleted;
}
