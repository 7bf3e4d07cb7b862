import type { Queryable } from '../pool.ts';

export interface IdempotencyRecord {
  readonly runId: string;
  readonly bodyHash: Buffer;
}

/** The live (unexpired) record of `key` for `actor`, if any. */
export async function findIdempotencyKey(
  db: Queryable,
  actor: string,
  key: string,
): Promise<IdempotencyRecord | undefined> {
  const { rows } = await db.query<{ run_id: string; body_hash: Buffer }>(
    `SELECT run_id, body_hash FROM idempotency_keys
     WHERE actor = $1 AND key = $2 AND expires_at > now()`,
    [actor, key],
  );
  const row = rows[0];
  return row === undefined ? undefined : { runId: row.run_id, bodyHash: row.body_hash };
}

/**
 * Claims `key` for a new run; an expired claim is taken over. Returns false when a live
 * claim exists (a concurrent request with the same key won), so the caller rolls back.
 */
export async function claimIdempotencyKey(
  db: Queryable,
  claim: { actor: string; key: string; bodyHash: Buffer; runId: string; ttlSeconds: number },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO idempotency_keys AS k (actor, key, body_hash, run_id, expires_at)
     VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
     ON CONFLICT (actor, key) DO UPDATE SET
       body_hash = EXCLUDED.body_hash, run_id = EXCLUDED.run_id,
       created_at = now(), expires_at = EXCLUDED.expires_at
     WHERE k.expires_at <= now()`,
    [claim.actor, claim.key, claim.bodyHash, claim.runId, claim.ttlSeconds],
  );
  return rowCount === 1;
}

/** Deletes up to `limit` expired claims, the longest expired first: nothing reads them any more. */
export async function purgeExpiredIdempotencyKeys(db: Queryable, limit: number): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM idempotency_keys WHERE (actor, key) IN (
       SELECT actor, key FROM idempotency_keys WHERE expires_at <= now()
       ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)`,
    [limit],
  );
  return rowCount ?? 0;
}
