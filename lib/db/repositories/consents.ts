import { boolArray, byteaArray, textArray, timestamptzArray, uuidArray } from '../binaryArrays.ts';
import type { Queryable } from '../pool.ts';
import type { UpsertOutcome } from '../upsertOutcome.ts';

export interface ConsentRow {
  readonly patientId: string;
  readonly dataSharing: boolean;
  readonly research: boolean;
  /** Where the decision came from: `ingest` for a record's consent object, later `api`, `fhir-consent`. */
  readonly source: string;
  /** When decided: its own time when explicit, otherwise when it arrived. */
  readonly recordedAt: Date;
  /**
   * Whether `recordedAt` is the decision's own time (an API decision, a dated FHIR Consent),
   * not only its arrival (a flat record's consent, an undated Consent).
   */
  readonly explicit: boolean;
  readonly recordedBy: string;
  readonly runId: string | null;
}

/** What weighing one decision against another reads of each. */
export type ConsentStanding = Pick<ConsentRow, 'dataSharing' | 'recordedAt' | 'explicit'>;

/**
 * `applies`: it becomes the decision on record. `superseded`: a decision dated after it stands
 * (and shares no more than it would). `revoked`: a grant refused because a refusal stands.
 */
export type ConsentWeight = 'applies' | 'superseded' | 'revoked';

/**
 * Consent precedence, which every writer follows (the SQL of upsertConsents,
 * revokeConsentsByMrnIndex and upsertPendingConsents says the same). A refusal takes effect
 * when it arrives, unless a refusal or an explicit grant dated after it is on record. A grant
 * takes effect over no decision or an earlier grant (an explicit one only when explicit itself);
 * over a refusal only when explicit and dated after it, otherwise the refusal stands and the
 * grant is revoked.
 */
export function weighConsent(
  current: ConsentStanding | undefined,
  next: ConsentStanding,
): ConsentWeight {
  if (current === undefined) return 'applies';
  const notOlder = current.recordedAt.getTime() <= next.recordedAt.getTime();
  if (!next.dataSharing) {
    return notOlder || (current.dataSharing && !current.explicit) ? 'applies' : 'superseded';
  }
  if (current.dataSharing) {
    return notOlder && (next.explicit || !current.explicit) ? 'applies' : 'superseded';
  }
  return next.explicit && current.recordedAt.getTime() < next.recordedAt.getTime()
    ? 'applies'
    : 'revoked';
}

/** weighConsent in SQL: whether `n` (the decision offered) takes the place of `c` (on record). */
export const TAKES_EFFECT = (c: string, n: string): string => `CASE
       WHEN NOT ${n}.data_sharing
         THEN ${c}.recorded_at <= ${n}.recorded_at OR (${c}.data_sharing AND NOT ${c}.explicit)
       WHEN ${c}.data_sharing
         THEN ${c}.recorded_at <= ${n}.recorded_at AND (${n}.explicit OR NOT ${c}.explicit)
       ELSE ${n}.explicit AND ${c}.recorded_at < ${n}.recorded_at
     END`;

/**
 * Upserts current consent per patient, each decision replacing the stored one only as
 * weighConsent says; history is kept by the consents_history_insert and
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
    `INSERT INTO consents AS c (patient_id, data_sharing, research, source, recorded_at, recorded_by,
       run_id, explicit)
     SELECT * FROM unnest($1::uuid[], $2::boolean[], $3::boolean[], $4::text[], $5::timestamptz[],
       $6::text[], $7::uuid[], $8::boolean[])
     ON CONFLICT (patient_id) DO UPDATE SET
       data_sharing = EXCLUDED.data_sharing, research = EXCLUDED.research, source = EXCLUDED.source,
       recorded_at = EXCLUDED.recorded_at, recorded_by = EXCLUDED.recorded_by,
       run_id = EXCLUDED.run_id, explicit = EXCLUDED.explicit, updated_at = now()
     WHERE ${TAKES_EFFECT('c', 'EXCLUDED')}
       AND ((c.data_sharing, c.research) IS DISTINCT FROM (EXCLUDED.data_sharing, EXCLUDED.research)
         OR (EXCLUDED.explicit AND NOT c.explicit))
     RETURNING patient_id, (xmax = 0) AS inserted`,
    [
      uuidArray(ordered.map((row) => row.patientId)),
      boolArray(ordered.map((row) => row.dataSharing)),
      boolArray(ordered.map((row) => row.research)),
      textArray(ordered.map((row) => row.source)),
      timestamptzArray(ordered.map((row) => row.recordedAt)),
      textArray(ordered.map((row) => row.recordedBy)),
      uuidArray(ordered.map((row) => row.runId)),
      boolArray(ordered.map((row) => row.explicit)),
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
  const { rows } = await db.query<ConsentRecord>(
    'SELECT * FROM consents WHERE patient_id = ANY($1::uuid[])',
    [uuidArray(patientIds)],
  );
  return new Map(rows.map((row) => [row.patient_id, consentOf(row)]));
}

export async function findConsent(
  db: Queryable,
  patientId: string,
): Promise<ConsentRow | undefined> {
  return (await findConsents(db, [patientId])).get(patientId);
}

/** A consent row as the database returns it. */
interface ConsentRecord {
  patient_id: string;
  data_sharing: boolean;
  research: boolean;
  source: string;
  recorded_at: Date;
  recorded_by: string;
  run_id: string | null;
  explicit: boolean;
}

function consentOf(row: ConsentRecord): ConsentRow {
  return {
    patientId: row.patient_id,
    dataSharing: row.data_sharing,
    research: row.research,
    source: row.source,
    recordedAt: row.recorded_at,
    explicit: row.explicit,
    recordedBy: row.recorded_by,
    runId: row.run_id,
  };
}

/**
 * The stored patients a batch's MRN blind indexes name, each looked up by index: `id` and the
 * other `columns` of `from` (which names its blind index `r.mrn_bidx`). The lateral subquery is
 * fenced (OFFSET 0) so the planner cannot flatten it into a join: with no statistics on
 * `patients` yet, as in a fresh or fast-growing database, it joined by reading every patient,
 * at each Load (56 ms at 40,000 patients, and growing with them; 4 ms by index).
 */
const PATIENTS_BY_MRN_INDEX = (from: string, ...columns: string[]): string =>
  `SELECT p.id${columns.map((column) => `, ${column}`).join('')} FROM ${from}
   CROSS JOIN LATERAL (SELECT id FROM patients WHERE mrn_bidx = r.mrn_bidx OFFSET 0) AS p`;

/**
 * Locks, for the rest of the transaction, the consent rows of these patients and of the stored
 * patients these MRN blind indexes name, in one statement in patient id order (the order
 * upsertConsents writes in; the consent API locks one row): a change of consent waits for the
 * locker, or the locker waits and reads it. Returns the current consent of each that has one.
 */
export async function lockConsents(
  db: Queryable,
  patientIds: readonly string[],
  mrnBidxs: readonly Buffer[] = [],
): Promise<Map<string, ConsentRow>> {
  if (patientIds.length === 0 && mrnBidxs.length === 0) return new Map();
  const { rows } = await db.query<ConsentRecord>(
    `SELECT * FROM consents
     WHERE patient_id = ANY($1::uuid[] || ARRAY(${PATIENTS_BY_MRN_INDEX('unnest($2::bytea[]) AS r(mrn_bidx)')}))
     ORDER BY patient_id
     FOR UPDATE`,
    [uuidArray(patientIds), byteaArray(mrnBidxs)],
  );
  return new Map(rows.map((row) => [row.patient_id, consentOf(row)]));
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

/**
 * Records one decision as the current consent, unconditionally: the caller weighed it under the
 * row's lock (its history row comes from the trigger).
 */
export async function recordConsentDecision(db: Queryable, row: ConsentRow): Promise<void> {
  await db.query(
    `INSERT INTO consents (patient_id, data_sharing, research, source, recorded_at, recorded_by,
       run_id, explicit)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (patient_id) DO UPDATE SET
       data_sharing = EXCLUDED.data_sharing, research = EXCLUDED.research, source = EXCLUDED.source,
       recorded_at = EXCLUDED.recorded_at, recorded_by = EXCLUDED.recorded_by,
       run_id = EXCLUDED.run_id, explicit = EXCLUDED.explicit, updated_at = now()`,
    [
      row.patientId,
      row.dataSharing,
      row.research,
      row.source,
      row.recordedAt,
      row.recordedBy,
      row.runId,
      row.explicit,
    ],
  );
}

/** A refusal that arrived in a batch, for a patient found by the MRN's blind index. */
export interface ConsentRevocation {
  readonly mrnBidx: Buffer;
  readonly research: boolean;
}

/**
 * Applies a flat batch's refusals, recorded at its arrival, to patients already stored, as
 * weighConsent says: over any grant but an explicit one dated later. Patients not stored are
 * untouched (their records were never let in).
 */
export async function revokeConsentsByMrnIndex(
  db: Queryable,
  revocations: readonly ConsentRevocation[],
  decision: { recordedAt: Date; recordedBy: string; runId: string },
): Promise<string[]> {
  if (revocations.length === 0) return [];
  const ordered = revocations.toSorted((a, b) => Buffer.compare(a.mrnBidx, b.mrnBidx));
  const { rows } = await db.query<{ patient_id: string }>(
    `WITH refused AS (
       ${PATIENTS_BY_MRN_INDEX('unnest($1::bytea[], $2::boolean[]) AS r(mrn_bidx, research)', 'r.research')}
     )
     UPDATE consents c SET data_sharing = false, research = refused.research, source = 'ingest',
       recorded_at = $3, recorded_by = $4, run_id = $5, explicit = false, updated_at = now()
     FROM refused
     -- Named twice: the array gives the planner the keys to look each consent up by, where
     -- the join alone had it read every consent (it cannot know how few patients refused).
     WHERE c.patient_id = ANY(ARRAY(SELECT id FROM refused)) AND c.patient_id = refused.id
       AND (c.recorded_at <= $3 OR (c.data_sharing AND NOT c.explicit))
       AND (c.data_sharing, c.research) IS DISTINCT FROM (false, refused.research)
     RETURNING c.patient_id`,
    [
      byteaArray(ordered.map((revocation) => revocation.mrnBidx)),
      boolArray(ordered.map((revocation) => revocation.research)),
      decision.recordedAt,
      decision.recordedBy,
      decision.runId,
    ],
  );
  return rows.map((row) => row.patient_id);
}
