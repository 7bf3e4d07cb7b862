import type { Queryable } from '../pool.ts';

/** Where a committed payload is: its ciphertext inline, or the location of its object in a PayloadStore. */
export type StagePayloadRecord = { readonly ciphertext: Buffer } | { readonly location: string };

export async function putStagePayload(
  db: Queryable,
  runId: string,
  stage: string,
  record: StagePayloadRecord,
): Promise<void> {
  const [ciphertext, location] =
    'ciphertext' in record ? [record.ciphertext, null] : [null, record.location];
  await db.query(
    `INSERT INTO stage_payloads (run_id, stage, ciphertext, location) VALUES ($1, $2, $3, $4)
     ON CONFLICT (run_id, stage) DO UPDATE
       SET ciphertext = EXCLUDED.ciphertext, location = EXCLUDED.location, created_at = now()`,
    [runId, stage, ciphertext, location],
  );
}

export async function findStagePayload(
  db: Queryable,
  runId: string,
  stage: string,
): Promise<StagePayloadRecord | undefined> {
  const { rows } = await db.query<{ ciphertext: Buffer | null; location: string | null }>(
    'SELECT ciphertext, location FROM stage_payloads WHERE run_id = $1 AND stage = $2',
    [runId, stage],
  );
  const row = rows[0];
  if (row === undefined) return undefined;
  return row.ciphertext === null
    ? { location: row.location ?? '' }
    : { ciphertext: row.ciphertext };
}

export async function purgeStagePayloads(db: Queryable, runId: string): Promise<number> {
  const { rowCount } = await db.query('DELETE FROM stage_payloads WHERE run_id = $1', [runId]);
  return rowCount ?? 0;
}

/**
 * Runs that succeeded more than `endedSecondsAgo` ago and still hold payloads, from up to `limit`
 * of their rows: those Publish did not purge (its process ended first). A failed run keeps its
 * payloads for re-drive.
 */
export async function findSucceededRunsHoldingPayloads(
  db: Queryable,
  endedSecondsAgo: number,
  limit: number,
): Promise<string[]> {
  const { rows } = await db.query<{ run_id: string }>(
    `SELECT run_id FROM (
       SELECT p.run_id, min(r.finished_at) AS finished_at
       FROM stage_payloads p JOIN ingest_runs r ON r.id = p.run_id
       WHERE r.status = 'succeeded' AND r.finished_at <= now() - make_interval(secs => $1)
       GROUP BY p.run_id) expired
     ORDER BY finished_at, run_id
     LIMIT $2`,
    [endedSecondsAgo, limit],
  );
  return rows.map((row) => row.run_id);
}
