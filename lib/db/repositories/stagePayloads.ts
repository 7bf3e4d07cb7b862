import type { Queryable } from '../pool.ts';

export async function putStagePayload(
  db: Queryable,
  runId: string,
  stage: string,
  ciphertext: Buffer,
): Promise<void> {
  await db.query(
    `INSERT INTO stage_payloads (run_id, stage, ciphertext) VALUES ($1, $2, $3)
     ON CONFLICT (run_id, stage) DO UPDATE SET ciphertext = EXCLUDED.ciphertext, created_at = now()`,
    [runId, stage, ciphertext],
  );
}

export async function findStagePayload(
  db: Queryable,
  runId: string,
  stage: string,
): Promise<Buffer | undefined> {
  const { rows } = await db.query<{ ciphertext: Buffer }>(
    'SELECT ciphertext FROM stage_payloads WHERE run_id = $1 AND stage = $2',
    [runId, stage],
  );
  return rows[0]?.ciphertext;
}

export async function purgeStagePayloads(db: Queryable, runId: string): Promise<number> {
  const { rowCount } = await db.query('DELETE FROM stage_payloads WHERE run_id = $1', [runId]);
  return rowCount ?? 0;
}

/**
 * Deletes up to `limit` payloads of runs that succeeded more than `endedSecondsAgo` ago: those
 * Publish did not purge (its process ended first). A failed run keeps its payloads for re-drive.
 */
export async function purgeStagePayloadsOfSucceededRuns(
  db: Queryable,
  endedSecondsAgo: number,
  limit: number,
): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM stage_payloads WHERE (run_id, stage) IN (
       SELECT p.run_id, p.stage FROM stage_payloads p JOIN ingest_runs r ON r.id = p.run_id
       WHERE r.status = 'succeeded' AND r.finished_at <= now() - make_interval(secs => $1)
       LIMIT $2 FOR UPDATE OF p SKIP LOCKED)`,
    [endedSecondsAgo, limit],
  );
  return rowCount ?? 0;
}
