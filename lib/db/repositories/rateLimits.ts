import type { Queryable } from '../pool.ts';

/** A token bucket's shape: how many requests it holds, and how fast it refills. */
export interface BucketShape {
  readonly capacity: number;
  readonly perSecond: number;
}

/**
 * Takes one request from `bucket` (made full at its first request): 0 when it had one, else
 * how many seconds until it will.
 */
export async function takeFromBucket(
  db: Queryable,
  bucket: string,
  shape: BucketShape,
): Promise<number> {
  const { rows } = await db.query<{ wait: number }>('SELECT rate_limit_take($1, $2, $3) AS wait', [
    bucket,
    shape.capacity,
    shape.perSecond,
  ]);
  return rows[0]?.wait ?? 0;
}

/**
 * Deletes up to `limit` buckets that have refilled to capacity: the next request of their token
 * makes a full one again (rate_limit_take), so only the rows of idle tokens go.
 */
export async function purgeFullRateLimitBuckets(
  db: Queryable,
  shape: BucketShape,
  limit: number,
): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM rate_limits WHERE bucket IN (
       SELECT bucket FROM rate_limits
       WHERE tokens + extract(epoch FROM clock_timestamp() - updated_at) * $2 >= $1
       LIMIT $3 FOR UPDATE SKIP LOCKED)`,
    [shape.capacity, shape.perSecond, limit],
  );
  return rowCount ?? 0;
}
