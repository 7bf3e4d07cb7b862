import type { Queryable } from '../pool.ts';

export interface StoredEvent {
  readonly runId: string;
  readonly type: string;
  readonly body: Readonly<Record<string, unknown>>;
  readonly createdAt: Date;
}

/** At most one event of a type per run and attempt: a retried Publish does not duplicate it. */
export async function insertPipelineEvent(
  db: Queryable,
  event: { runId: string; type: string; attempt: number; body: Readonly<Record<string, unknown>> },
): Promise<void> {
  await db.query(
    `INSERT INTO pipeline_events (run_id, type, attempt, body) VALUES ($1, $2, $3, $4)
     ON CONFLICT (run_id, type, attempt) DO NOTHING`,
    [event.runId, event.type, event.attempt, event.body],
  );
}

export async function listPipelineEvents(db: Queryable, runId: string): Promise<StoredEvent[]> {
  const { rows } = await db.query<{
    run_id: string;
    type: string;
    body: Record<string, unknown>;
    created_at: Date;
  }>('SELECT run_id, type, body, created_at FROM pipeline_events WHERE run_id = $1 ORDER BY id', [
    runId,
  ]);
  return rows.map((row) => ({
    runId: row.run_id,
    type: row.type,
    body: row.body,
    createdAt: row.created_at,
  }));
}
