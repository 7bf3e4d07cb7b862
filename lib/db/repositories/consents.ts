import type { Queryable } from '../pool.ts';

export interface ConsentRow {
  readonly patientId: string;
  readonly dataSharing: boolean;
  readonly research: boolean;
  /** Where the decision came from: `ingest` for a record's consent object, later `api`, `fhir-consent`. */
  readonly source: string;
  readonly recordedAt: Date;
  readonly recordedBy: string;
  readonly runId: string | null;
}

export interface ConsentUpsertOutcome {
  readonly created: readonly string[];
  readonly updated: readonly string[];
}

/**
 * Upserts current consent per patient. A decision recorded earlier than the stored one
 * never overwrites it; history is kept by the consents_history trigger.
 */
export async function upsertConsents(
  db: Queryable,
  rows: readonly ConsentRow[],
): Promise<ConsentUpsertOutcome> {
  if (rows.length === 0) return { created: [], updated: [] };
  // One lock order for every writer: concurrent runs sharing patients cannot deadlock.
  const ordered = rows.toSorted((a, b) =>
    a.patientId < b.patientId ? -1 : a.patientId > b.patientId ? 1 : 0,
  );
  const { rows: written } = await db.query<{ patient_id: string; inserted: boolean }>(
    `INSERT INTO consents AS c (patient_id, data_sharing, research, source, recorded_at, recorded_by, run_id)
     SELECT * FROM unnest($1::uuid[], $2::boolean[], $3::boolean[], $4::text[], $5::timestamptz[],
       $6::text[], $7::uuid[])
     ON CONFLICT (patient_id) DO UPDATE SET
       data_sharing = EXCLUDED.data_sharing, research = EXCLUDED.research, source = EXCLUDED.source,
       recorded_at = EXCLUDED.recorded_at, recorded_by = EXCLUDED.recorded_by,
       run_id = EXCLUDED.run_id, updated_at = now()
     WHERE c.recorded_at <= EXCLUDED.recorded_at
       AND (c.data_sharing, c.research) IS DISTINCT FROM (EXCLUDED.data_sharing, EXCLUDED.research)
     RETURNING patient_id, (xmax = 0) AS inserted`,
    [
      ordered.map((row) => row.patientId),
      ordered.map((row) => row.dataSharing),
      ordered.map((row) => row.research),
      ordered.map((row) => row.source),
      ordered.map((row) => row.recordedAt),
      ordered.map((row) => row.recordedBy),
      ordered.map((row) => row.runId),
    ],
  );
  return {
    created: written.filter((row) => row.inserted).map((row) => row.patient_id),
    updated: written.filter((row) => !row.inserted).map((row) => row.patient_id),
  };
}

export async function findConsent(
  db: Queryable,
  patientId: string,
): Promise<ConsentRow | undefined> {
  const { rows } = await db.query<{
    patient_id: string;
    data_sharing: boolean;
    research: boolean;
    source: string;
    recorded_at: Date;
    recorded_by: string;
    run_id: string | null;
  }>('SELECT * FROM consents WHERE patient_id = $1', [patientId]);
  const row = rows[0];
  if (row === undefined) return undefined;
  return {
    patientId: row.patient_id,
    dataSharing: row.data_sharing,
    research: row.research,
    source: row.source,
    recordedAt: row.recorded_at,
    recordedBy: row.recorded_by,
    runId: row.run_id,
  };
}

export async function countConsentHistory(db: Queryable, patientId: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    'SELECT count(*) AS n FROM consent_history WHERE patient_id = $1',
    [patientId],
  );
  return Number(rows[0]?.n ?? 0);
}
