import middy from '@middy/core';
import { config } from '../../lib/config.ts';
import { type PurgeSummary, purgeExpired } from '../../lib/db/retention.ts';
import { pipelineDependencies } from '../../lib/runtime.ts';

/**
 * Housekeeping, on a schedule: expired Idempotency-Keys, rate-limit buckets of idle tokens and
 * the claim-check payloads of succeeded runs that Publish never purged, PURGE_BATCH_SIZE rows
 * of each a pass. Only the counts are logged.
 */
export const handler = middy<unknown, PurgeSummary>().handler(async () => {
  const { pool, payloadStore, logger } = pipelineDependencies();
  const summary = await purgeExpired(pool, payloadStore, config());
  logger.info('expired rows purged', { ...summary });
  return summary;
});
