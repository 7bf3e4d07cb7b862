import { int4Array, jsonbArray, textArray } from '../binaryArrays.ts';
import type { Queryable } from '../pool.ts';

export const REJECTION_REASONS = [
  'schema',
  'consent',
  'orphan-reference',
  'duplicate-in-batch',
  'unsupported-type',
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

/** A rejected record: where it was in the input and why. `details` never holds the record's values. */
export interface Rejection {
  readonly recordIndex: number;
  readonly resourceType: string | null;
  readonly reason: RejectionReason;
  readonly details: Readonly<Record<string, unknown>>;
}

export interface RejectionRow extends Rejection {
  readonly runId: string;
  readonly stage: string;
}

export async function insertRejections(
  db: Queryable,
  runId: string,
  stage: string,
  rejections: readonly Rejection[],
): Promise<void> {
  if (rejections.length === 0) return;
  await db.query(
    `INSERT INTO rejections (run_id, stage, record_index, resource_type, reason, details)
     SELECT $1, $2, * FROM unnest($3::int[], $4::text[], $5::text[], $6::jsonb[])
     ON CONFLICT (run_id, record_index, reason) DO NOTHING`,
    [
      runId,
      stage,
      int4Array(rejections.map((rejection) => rejection.recordIndex)),
      textArray(rejections.map((rejection) => rejection.resourceType)),
      textArray(rejections.map((rejection) => rejection.reason)),
      jsonbArray(rejections.map((rejection) => JSON.stringify(rejection.details))),
    ],
  );
}

export async function listRejections(db: Queryable, runId: string): Promise<RejectionRow[]> {
  const { rows } = await db.query<{
    run_id: string;
    stage: string;
    record_index: number;
    resource_type: string | null;
    reason: RejectionReason;
    details: Record<string, unknown>;
  }>(
    `SELECT run_id, stage, record_index, resource_type, reason, details
     FROM rejections WHERE run_id = $1 ORDER BY record_index, reason`,
    [runId],
  );
  return rows.map((row) => ({
    runId: row.run_id,
    stage: row.stage,
    recordIndex: row.record_index,
    resourceType: row.resource_type,
    reason: row.reason,
    details: row.details,
  }));
}

/** How many records each reason rejected, of each run that rejected any. */
export type RejectionTally = Readonly<Partial<Record<RejectionReason, number>>>;

/** Rejections counted by reason for a set of runs, in one query; a run without any is absent. */
export async function countRejectionsByReason(
  db: Queryable,
  runIds: readonly string[],
): Promise<Map<string, RejectionTally>> {
  if (runIds.length === 0) return new Map();
  const { rows } = await db.query<{ run_id: string; reason: RejectionReason; count: number }>(
    `SELECT run_id, reason, count(*)::int AS count
     FROM rejections WHERE run_id = ANY($1::uuid[])
     GROUP BY run_id, reason ORDER BY run_id, reason`,
    [runIds],
  );
  const tallies = new Map<string, Record<string, number>>();
  for (const row of rows) {
    const tally = tallies.get(row.run_id) ?? {};
    tally[row.reason] = row.count;
    tallies.set(row.run_id, tally);
  }
  return tallies;
}
