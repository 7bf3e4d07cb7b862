import type { Queryable } from '../pool.ts';
import type { UpsertOutcome } from '../upsertOutcome.ts';

/** The encrypted columns of `observations`, as each field's ciphertext is bound to by its AAD. */
export const OBSERVATION_COLUMNS = { value: 'value_enc', source: 'source_enc' } as const;

/** An observation row: what it is and when in clear (for search), its value and source encrypted. */
export interface ObservationRow {
  readonly id: string;
  readonly patientId: string;
  readonly category: string | null;
  readonly codeSystem: string | null;
  readonly code: string | null;
  readonly effectiveAt: Date | null;
  readonly status: string | null;
  readonly valueEnc: Buffer | null;
  /** The Observation as received. */
  readonly sourceEnc: Buffer;
  readonly recordDigest: Buffer;
  readonly dataKeyId: string;
}

/** Upserts by id; an observation whose record digest did not change is left untouched. */
export async function upsertObservations(
  db: Queryable,
  runId: string | null,
  rows: readonly ObservationRow[],
): Promise<UpsertOutcome> {
  if (rows.length === 0) return { created: [], updated: [], unchanged: [] };
  // One lock order for every writer: concurrent runs cannot deadlock.
  const ordered = rows.toSorted((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const { rows: written } = await db.query<{ id: string; inserted: boolean }>(
    `INSERT INTO observations AS o (id, patient_id, category, code_system, code, effective_at, status,
       value_enc, source_enc, record_digest, data_key_id, created_run_id, updated_run_id)
     SELECT r.*, $12::uuid, $12::uuid
     FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
       $7::text[], $8::bytea[], $9::bytea[], $10::bytea[], $11::uuid[]) AS r
     ON CONFLICT (id) DO UPDATE SET
       patient_id = EXCLUDED.patient_id, category = EXCLUDED.category,
       code_system = EXCLUDED.code_system, code = EXCLUDED.code,
       effective_at = EXCLUDED.effective_at, status = EXCLUDED.status,
       value_enc = EXCLUDED.value_enc, source_enc = EXCLUDED.source_enc,
       record_digest = EXCLUDED.record_digest, data_key_id = EXCLUDED.data_key_id,
       updated_run_id = EXCLUDED.updated_run_id, updated_at = now()
     WHERE o.record_digest IS DISTINCT FROM EXCLUDED.record_digest
     RETURNING id, (xmax = 0) AS inserted`,
    [
      ordered.map((row) => row.id),
      ordered.map((row) => row.patientId),
      ordered.map((row) => row.category),
      ordered.map((row) => row.codeSystem),
      ordered.map((row) => row.code),
      ordered.map((row) => row.effectiveAt),
      ordered.map((row) => row.status),
      ordered.map((row) => row.valueEnc),
      ordered.map((row) => row.sourceEnc),
      ordered.map((row) => row.recordDigest),
      ordered.map((row) => row.dataKeyId),
      runId,
    ],
  );
  const touched = new Set(written.map((row) => row.id));
  return {
    created: written.filter((row) => row.inserted).map((row) => row.id),
    updated: written.filter((row) => !row.inserted).map((row) => row.id),
    unchanged: rows.map((row) => row.id).filter((id) => !touched.has(id)),
  };
}

/**
 * Where an observation stands in a patient's list (effective time, then id; no time last).
 * The time is in microseconds since the epoch, as PostgreSQL keeps it, so a position taken
 * from one page matches the row exactly on the next.
 */
export interface ObservationPosition {
  /** Microseconds since 1970-01-01 UTC as a decimal string, or null for no effective time. */
  readonly effectiveMicros: string | null;
  readonly id: string;
}

export interface StoredObservation extends ObservationRow {
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly position: ObservationPosition;
}

interface ObservationRecord {
  id: string;
  patient_id: string;
  category: string | null;
  code_system: string | null;
  code: string | null;
  effective_at: Date | null;
  status: string | null;
  value_enc: Buffer | null;
  source_enc: Buffer;
  record_digest: Buffer;
  data_key_id: string;
  created_at: Date;
  updated_at: Date;
  effective_micros: string | null;
}

/**
 * One page of a patient's observations in effective time order, then id, those without a
 * time last: the `limit` rows after `after` (keyset paging, no OFFSET). Read `limit + 1` to
 * know whether another page follows.
 */
export async function listObservationPage(
  db: Queryable,
  patientId: string,
  after: ObservationPosition | undefined,
  /** null: every row after `after`. */
  limit: number | null,
): Promise<StoredObservation[]> {
  const { rows } = await db.query<ObservationRecord>(
    `SELECT id, patient_id, category, code_system, code, effective_at, status, value_enc,
            source_enc, record_digest, data_key_id, created_at, updated_at,
            (extract(epoch FROM effective_at) * 1000000)::bigint::text AS effective_micros
     FROM observations
     WHERE patient_id = $1
       AND ($3::uuid IS NULL
         OR CASE WHEN $2::bigint IS NULL THEN effective_at IS NULL AND id > $3::uuid
            ELSE (effective_at, id) > ('epoch'::timestamptz + $2::bigint * interval '1 microsecond', $3::uuid)
                 OR effective_at IS NULL
            END)
     ORDER BY effective_at NULLS LAST, id
     LIMIT $4`,
    [patientId, after?.effectiveMicros ?? null, after?.id ?? null, limit],
  );
  return rows.map((row) => ({
    id: row.id,
    patientId: row.patient_id,
    category: row.category,
    codeSystem: row.code_system,
    code: row.code,
    effectiveAt: row.effective_at,
    status: row.status,
    valueEnc: row.value_enc,
    sourceEnc: row.source_enc,
    recordDigest: row.record_digest,
    dataKeyId: row.data_key_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    position: { effectiveMicros: row.effective_micros, id: row.id },
  }));
}

/** Every observation of a patient, in the order the FHIR search pages them. */
export function listObservationsByPatient(
  db: Queryable,
  patientId: string,
): Promise<StoredObservation[]> {
  return listObservationPage(db, patientId, undefined, null);
}

export async function countObservationsByPatient(
  db: Queryable,
  patientId: string,
): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM observations WHERE patient_id = $1',
    [patientId],
  );
  return rows[0]?.n ?? 0;
}
