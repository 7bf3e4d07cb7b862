import { beforeAll, describe, expect, it } from 'vitest';
import type { PurgeSummary } from '../../../lib/db/retention.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { useDeployedEnvironment } from '../../helpers/deployedEnvironment.ts';
import { captureOutput } from '../../helpers/output.ts';
import { flatRecord, useTestPipeline } from '../../helpers/pipeline.ts';
import { lambdaContext } from '../../unit/http/httpEvent.ts';

type PurgeHandler = (event: unknown, context: typeof lambdaContext) => Promise<PurgeSummary>;

describe('functions/queue/purgeExpired, configured from the environment as deployed', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);
  useDeployedEnvironment(database, { LOG_LEVEL: 'INFO', PURGE_BATCH_SIZE: '2' });
  let handler: PurgeHandler;

  beforeAll(async () => {
    ({ handler } = (await import('../../../functions/queue/purgeExpired.ts')) as {
      handler: PurgeHandler;
    });
  });

  it('purges PURGE_BATCH_SIZE expired keys a pass and logs the counts alone', async () => {
    // Prepare: three runs with an Idempotency-Key each, all three claims expired.
    const keys = ['key-one', 'key-two', 'key-three'];
    for (const key of keys) {
      await database.pool.query(
        `INSERT INTO idempotency_keys (actor, key, body_hash, run_id, expires_at)
         VALUES ('system:test', $1, $2, $3, now() - interval '1 s')`,
        [key, Buffer.alloc(32), await pipeline.submit([flatRecord()])],
      );
    }

    // Act
    const { result, output } = await captureOutput(() => handler({}, lambdaContext));

    // Assess
    expect(result).toStrictEqual({ idempotencyKeys: 2, rateLimitBuckets: 0, stagePayloads: 0 });
    const lines = output
      .split('\n')
      .filter((line) => line.includes('expired rows purged'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ idempotencyKeys: 2, rateLimitBuckets: 0, stagePayloads: 0 });
    for (const key of keys) expect(output).not.toContain(key);
  });
});
