import type { Queryable } from '../pool.ts';
import type { UpsertOutcome } from '../upsertOutcome.ts';

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

/**
 * Upserts current consent per patient. A decision recorded earlier than the stored one
 * never overwrites it; history is kept by the consents_history_insert and
 * consents_history_update triggers.
 */
export async function upsertConsents(
  db: Queryable,
  rows: readonly ConsentRow[],
): Promise<UpsertOutcome> {
  if (rows.length === 0) return { created: [], updated: [], unchanged: [] };
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
  const touched = new Set(written.map((row) => row.patient_id));
  return {
    created: written.filter((row) => row.inserted).map((row) => row.patient_id),
    updated: written.filter((row) => !row.inserted).map((row) => row.patient_id),
    unchanged: rows.map((row) => row.patientId).filter((id) => !touched.has(id)),
  };
}

/** Current consent of each of these patients that has one. */
export async function findConsents(
  db: Queryable,
  patientIds: readonly string[],
): Promise<Map<string, ConsentRow>> {
  if (patientIds.length === 0) return new Map();
  const { rows } = await db.query<{
    patient_id: string;
    data_sharing: boolean;
    research: boolean;
    source: string;
    recorded_at: Date;
    recorded_by: string;
    run_id: string | null;
  }>('SELECT * FROM consents WHERE patient_id = ANY($1::uuid[])', [patientIds]);
  return new Map(
    rows.map((row) => [
      row.patient_id,
      {
        patientId: row.patient_id,
        dataSharing: row.data_sharing,
        research: row.research,
        source: row.source,
        recordedAt: row.recorded_at,
        recordedBy: row.recorded_by,
        runId: row.run_id,
      },
    ]),
  );
}

export async function findConsent(
  db: Queryable,
  patientId: string,
): Promise<ConsentRow | undefined> {
  return (await findConsents(db, [patientId])).get(patientId);
}

/**
 * Takes a share lock on the patient's consent row for the rest of the transaction: a change
 * of consent committing meanwhile waits for the reader, or the reader waits and sees it.
 */
export async function lockConsent(db: Queryable, patientId: string): Promise<void> {
  await db.query('SELECT 1 FROM consents WHERE patient_id = $1 FOR SHARE', [patientId]);
}

export async function countConsentHistory(db: Queryable, patientId: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    'SELECT count(*) AS n FROM consent_history WHERE patient_id = $1',
    [patientId],
  );
  return Number(rows[0]?.n ?? 0);
}

/** Records one explicit decision as the current consent (its history row comes from the trigger). */
export async function recordConsentDecision(db: Queryable, row: ConsentRow): Promise<void> {
  await db.query(
    `INSERT INTO consents (patient_id, data_sharing, research, source, recorded_at, recorded_by, run_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (patient_id) DO UPDATE SET
       data_sharing = EXCLUDED.data_sharing, research = EXCLUDED.research, source = EXCLUDED.source,
       recorded_at = EXCLUDED.recorded_at, recorded_by = EXCLUDED.recorded_by,
       run_id = EXCLUDED.run_id, updated_at = now()`,
    [
      row.patientId,
      row.dataSharing,
      row.research,
      row.source,
      row.recordedAt,
      row.recordedBy,
      row.runId,
    ],
  );
}

/** A refusal that arrived in a batch, for a patient found by the MRN's blind index. */
export interface ConsentRevocation {
  readonly mrnBidx: Buffer;
  readonly research: boolean;
}

/**
 * Applies refusals to patients already stored: data sharing off, unless a later decision is
 * on record. Patients not stored are untouched (their records were never let in).
 */
export async function revokeConsentsByMrnIndex(
  db: Queryable,
  revocations: readonly ConsentRevocation[],
  decision: { recordedAt: Date; recordedBy: string; runId: string },
): Promise<string[]> {
  if (revocations.length === 0) return [];
  const ordered = revocations.toSorted((a, b) => Buffer.compare(a.mrnBidx, b.mrnBidx));
  const { rows } = await db.query<{ patient_id: string }>(
    `UPDATE consents c SET data_sharing = false, research = r.research, source = 'ingest',
       recorded_at = $3, recorded_by = $4, run_id = $5, updated_at = now()
     FROM patients p
     JOIN unnest($1::bytea[], $2::boolean[]) AS r(mrn_bidx, research) ON r.mrn_bidx = p.mrn_bidx
     WHERE c.patient_id = p.id AND c.recorded_at <= $3
       AND (c.data_sharing, c.research) IS DISTINCT FROM (false, r.research)
     RETURNING c.patient_id`,
    [
      ordered.map((revocation) => revocation.mrnBidx),
      ordered.map((revocation) => revocation.research),
      decision.recordedAt,
      decision.recordedBy,
      decision.runId,
    ],
  );
  return rows.map((row) => row.patient_id);
}
