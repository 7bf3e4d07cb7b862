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
