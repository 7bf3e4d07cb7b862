import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Queryable } from '../../../lib/db/pool.ts';
import { insertDataKey } from '../../../lib/db/repositories/dataKeys.ts';
import { insertIngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import { putStagePayload } from '../../../lib/db/repositories/stagePayloads.ts';
import { ENDED_RUN_PAYLOAD_SECONDS, purgeExpired } from '../../../lib/db/retention.ts';
import { DirectoryPayloadStore } from '../../../lib/pipeline/directoryPayloadStore.ts';
import { useTestDatabase } from '../../helpers/database.ts';

const SETTINGS = { purge: { batchSize: 100 }, rateLimit: { perMinute: 600, burst: 120 } } as const;
const EMPTY = { idempotencyKeys: 0, rateLimitBuckets: 0, stagePayloads: 0 } as const;

/** A run in `status`, ended `endedSecondsAgo` ago when it ended; its key and payloads are opaque bytes. */
async function run(
  db: Queryable,
  status: 'queued' | 'running' | 'succeeded' | 'failed',
  endedSecondsAgo = 0,
): Promise<string> {
  const dataKeyId = randomUUID();
  await insertDataKey(db, {
    id: dataKeyId,
    purpose: 'run',
    masterKeyId: 'local',
    encryptedKey: randomBytes(24),
    encryptionContext: { purpose: 'run', runId: 'none' },
  });
  const id = randomUUID();
  await insertIngestRun(db, {
    id,
    format: 'flat',
    source: 'api',
    actor: 'system:test',
    dataKeyId,
    counts: {},
  });
  const ended = status === 'succeeded' || status === 'failed';
  await db.query(
    `UPDATE ingest_runs SET status = $2,
       finished_at = CASE WHEN $3 THEN now() - make_interval(secs => $4) END
     WHERE id = $1`,
    [id, status, ended, endedSecondsAgo],
  );
  return id;
}

async function stagesOf(db: Queryable, runId: string): Promise<string[]> {
  const { rows } = await db.query<{ stage: string }>(
    'SELECT stage FROM stage_payloads WHERE run_id = $1 ORDER BY stage',
    [runId],
  );
  return rows.map((row) => row.stage);
}

describe('purgeExpired: the scheduled purges on real PostgreSQL', () => {
  const database = useTestDatabase({ perTest: true });
  let payloads: DirectoryPayloadStore;

  beforeEach(() => {
    payloads = new DirectoryPayloadStore(mkdtempSync(join(tmpdir(), 'retention-payloads-')));
  });

  /** An Idempotency-Key claim of a run of its own, expiring `expiresInSeconds` from now. */
  async function idempotencyKey(key: string, expiresInSeconds: number): Promise<void> {
    await database.pool.query(
      `INSERT INTO idempotency_keys (actor, key, body_hash, run_id, expires_at)
       VALUES ('system:test', $1, $2, $3, now() + make_interval(secs => $4))`,
      [key, randomBytes(32), await run(database.pool, 'succeeded'), expiresInSeconds],
    );
  }

  async function idempotencyKeys(): Promise<string[]> {
    const { rows } = await database.pool.query<{ key: string }>(
      'SELECT key FROM idempotency_keys ORDER BY key',
    );
    return rows.map((row) => row.key);
  }

  /** A bucket holding `tokens`, last taken from `secondsAgo` ago. */
  async function bucket(name: string, tokens: number, secondsAgo: number): Promise<void> {
    await database.pool.query(
      `INSERT INTO rate_limits (bucket, tokens, updated_at)
       VALUES ($1, $2, clock_timestamp() - make_interval(secs => $3))`,
      [name, tokens, secondsAgo],
    );
  }

  async function buckets(): Promise<string[]> {
    const { rows } = await database.pool.query<{ bucket: string }>(
      'SELECT bucket FROM rate_limits ORDER BY bucket',
    );
    return rows.map((row) => row.bucket);
  }

  it('deletes the expired Idempotency-Keys and keeps the live ones', async () => {
    // Prepare
    await idempotencyKey('expired-a-day-ago', -86_400);
    await idempotencyKey('expired-now', 0);
    await idempotencyKey('live', 60);

    // Act
    const summary = await purgeExpired(database.pool, payloads, SETTINGS);

    // Assess
    expect(summary).toStrictEqual({ ...EMPTY, idempotencyKeys: 2 });
    expect(await idempotencyKeys()).toEqual(['live']);
  });

  it('deletes the rate-limit buckets refilled to their burst, and keeps those still refilling', async () => {
    // Prepare: 600 a minute refills 10 tokens a second, so an empty bucket of 120 is full in 12 s.
    await bucket('full', 120, 0);
    await bucket('refilled-an-hour-ago', 0, 3600);
    await bucket('refilled-just-now', 0, 13);
    await bucket('empty', 0, 0);
    await bucket('half-full', 60, 0);

    // Act
    const summary = await purgeExpired(database.pool, payloads, SETTINGS);

    // Assess
    expect(summary).toStrictEqual({ ...EMPTY, rateLimitBuckets: 3 });
    expect(await buckets()).toEqual(['empty', 'half-full']);
  });

  it('gives a token whose bucket was purged the full burst again, as before the purge', async () => {
    // Prepare
    await bucket('idle', 0, 3600);
    await purgeExpired(database.pool, payloads, SETTINGS);

    // Act
    const { rows } = await database.pool.query<{ wait: number }>(
      'SELECT rate_limit_take($1, $2, $3) AS wait',
      ['idle', 120, 10],
    );

    // Assess
    expect(rows[0]?.wait).toBe(0);
    const { rows: left } = await database.pool.query<{ tokens: number }>(
      `SELECT tokens FROM rate_limits WHERE bucket = 'idle'`,
    );
    expect(left[0]?.tokens).toBe(119);
  });

  it('deletes the payloads a succeeded run kept past the longest execution, and no one else’s', async () => {
    // Prepare
    const past = ENDED_RUN_PAYLOAD_SECONDS + 60;
    const runs = {
      succeededLongAgo: await run(database.pool, 'succeeded', past),
      succeededJustNow: await run(database.pool, 'succeeded', ENDED_RUN_PAYLOAD_SECONDS - 60),
      failedLongAgo: await run(database.pool, 'failed', past),
      running: await run(database.pool, 'running'),
      queued: await run(database.pool, 'queued'),
    };
    for (const runId of Object.values(runs)) {
      for (const stage of ['received', 'extracted']) {
        await putStagePayload(database.pool, runId, stage, { ciphertext: randomBytes(48) });
      }
    }

    // Act
    const summary = await purgeExpired(database.pool, payloads, SETTINGS);

    // Assess
    expect(summary).toStrictEqual({ ...EMPTY, stagePayloads: 2 });
    expect(await stagesOf(database.pool, runs.succeededLongAgo)).toEqual([]);
    for (const runId of [runs.succeededJustNow, runs.failedLongAgo, runs.running, runs.queued]) {
      expect(await stagesOf(database.pool, runId)).toEqual(['extracted', 'received']);
    }
  });

  it('deletes the objects of the runs whose payloads it purged, and keeps every other run’s', async () => {
    // Prepare: a run left by a crash before Publish's purge, with an orphan of a failed attempt
    const past = ENDED_RUN_PAYLOAD_SECONDS + 60;
    const runs = {
      succeededLongAgo: await run(database.pool, 'succeeded', past),
      failedLongAgo: await run(database.pool, 'failed', past),
    };
    for (const runId of Object.values(runs)) {
      const recorded = await payloads.put(runId, 'received', randomBytes(48));
      await putStagePayload(database.pool, runId, 'received', recorded);
      await payloads.put(runId, 'extracted', randomBytes(48));
    }

    // Act
    const summary = await purgeExpired(database.pool, payloads, SETTINGS);

    // Assess
    expect(summary).toStrictEqual({ ...EMPTY, stagePayloads: 1 });
    expect(existsSync(join(payloads.location, runs.succeededLongAgo))).toBe(false);
    expect(readdirSync(join(payloads.location, runs.failedLongAgo))).toHaveLength(2);
    expect(await stagesOf(database.pool, runs.failedLongAgo)).toEqual(['received']);
  });

  it('purges every other run when the store refuses one, oldest first, and then raises the failure', async () => {
    // Prepare: three succeeded runs left with payloads; the store refuses the middle one
    const past = ENDED_RUN_PAYLOAD_SECONDS + 60;
    const oldest = await run(database.pool, 'succeeded', past + 300);
    const refused = await run(database.pool, 'succeeded', past + 200);
    const newest = await run(database.pool, 'succeeded', past + 100);
    for (const runId of [oldest, refused, newest]) {
      await putStagePayload(
        database.pool,
        runId,
        'received',
        await payloads.put(runId, 'received', randomBytes(48)),
      );
    }
    const purged: string[] = [];
    const refusing = Object.assign(Object.create(payloads) as DirectoryPayloadStore, {
      purgeRun: async (runId: string) => {
        if (runId === refused) throw new Error('the store is unavailable');
        purged.push(runId);
        await payloads.purgeRun(runId);
      },
    });

    // Act
    const failure = await purgeExpired(database.pool, refusing, SETTINGS).then(
      () => undefined,
      (error: unknown) => error,
    );

    // Assess
    expect(failure).toBeInstanceOf(Error);
    expect(purged).toEqual([oldest, newest]);
    expect(await stagesOf(database.pool, oldest)).toEqual([]);
    expect(await stagesOf(database.pool, refused)).toEqual(['received']);
    expect(await stagesOf(database.pool, newest)).toEqual([]);
  });

  it('deletes at most batchSize rows of each a pass, the longest expired first, and the rest on the next', async () => {
    // Prepare
    for (const [key, expiresIn] of [
      ['expired-first', -300],
      ['expired-second', -200],
      ['expired-third', -100],
    ] as const) {
      await idempotencyKey(key, expiresIn);
    }
    for (const name of ['a', 'b', 'c']) await bucket(name, 120, 0);
    const settings = { ...SETTINGS, purge: { batchSize: 2 } };

    // Act
    const first = await purgeExpired(database.pool, payloads, settings);
    const keysLeft = await idempotencyKeys();
    const second = await purgeExpired(database.pool, payloads, settings);

    // Assess
    expect(first).toStrictEqual({ ...EMPTY, idempotencyKeys: 2, rateLimitBuckets: 2 });
    expect(keysLeft).toEqual(['expired-third']);
    expect(second).toStrictEqual({ ...EMPTY, idempotencyKeys: 1, rateLimitBuckets: 1 });
    expect(await idempotencyKeys()).toEqual([]);
    expect(await buckets()).toEqual([]);
  });

  it('waits at least as long as an execution may run before taking a succeeded run’s payloads', () => {
    // Prepare
    const definition = JSON.parse(
      readFileSync(new URL('../../../statemachine/ingest.asl.json', import.meta.url), 'utf8'),
    ) as { TimeoutSeconds: number };

    // Assess
    expect(ENDED_RUN_PAYLOAD_SECONDS).toBeGreaterThanOrEqual(definition.TimeoutSeconds);
  });
});
