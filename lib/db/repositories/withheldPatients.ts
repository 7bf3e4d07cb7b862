import { byteaArray, textArray, uuidArray } from '../binaryArrays.ts';
import type { Queryable } from '../pool.ts';

/** Why the consent stage stopped a patient: no decision at all, or a refusal. */
export type WithheldConsent = 'absent' | 'refused';

/** A reference of a Patient the consent stage stopped, by its blind index. */
export interface WithheldReferenceRow {
  readonly refBidx: Buffer;
  /** The id the patient's MRN gives: the patient it would be, were it stored. */
  readonly patientId: string;
  readonly consent: WithheldConsent;
}

export async function upsertWithheldReferences(
  db: Queryable,
  runId: string,
  rows: readonly WithheldReferenceRow[],
): Promise<void> {
  if (rows.length === 0) return;
  // One lock order for every writer: concurrent runs cannot deadlock.
  const ordered = rows.toSorted((a, b) => Buffer.compare(a.refBidx, b.refBidx));
  await db.query(
    `INSERT INTO withheld_patient_references AS w (ref_bidx, patient_id, consent, run_id)
     SELECT b, p, c, $4::uuid FROM unnest($1::bytea[], $2::uuid[], $3::text[]) AS u(b, p, c)
     ON CONFLICT (ref_bidx) DO UPDATE SET
       patient_id = EXCLUDED.patient_id, consent = EXCLUDED.consent, run_id = EXCLUDED.run_id,
       updated_at = now()
     WHERE (w.patient_id, w.consent) IS DISTINCT FROM (EXCLUDED.patient_id, EXCLUDED.consent)`,
    [
      byteaArray(ordered.map((row) => row.refBidx)),
      uuidArray(ordered.map((row) => row.patientId)),
      textArray(ordered.map((row) => row.consent)),
      runId,
    ],
  );
}

export interface WithheldPatient {
  readonly patientId: string;
  readonly consent: WithheldConsent;
}

/**
 * The withheld patients these references (by blind index, base64 keys) or ids name. A
 * reference or id absent from both maps names no patient the consent stage stopped.
 */
export async function findWithheldPatients(
  db: Queryable,
  refBidxs: readonly Buffer[],
  patientIds: readonly string[],
): Promise<{ byReference: Map<string, WithheldPatient>; byId: Map<string, WithheldPatient> }> {
  const byReference = new Map<string, WithheldPatient>();
  const byId = new Map<string, WithheldPatient>();
  if (refBidxs.length === 0 && patientIds.length === 0) return { byReference, byId };
  const { rows } = await db.query<{
    ref_bidx: Buffer;
    patient_id: string;
    consent: WithheldConsent;
  }>(
    `SELECT ref_bidx, patient_id, consent FROM withheld_patient_references
     WHERE ref_bidx = ANY($1::bytea[]) OR patient_id = ANY($2::uuid[])`,
    [byteaArray(refBidxs), patientIds],
  );
  const wanted = new Set(refBidxs.map((bidx) => bidx.toString('base64')));
  for (const row of rows) {
    const withheld = { patientId: row.patient_id, consent: row.consent };
    const key = row.ref_bidx.toString('base64');
    if (wanted.has(key)) byReference.set(key, withheld);
    byId.set(row.patient_id, withheld);
  }
  return { byReference, byId };
}

/** A patient stored at last is found by `patient_references`: its withheld rows go. */
export async function deleteWithheldReferences(
  db: Queryable,
  refBidxs: readonly Buffer[],
): Promise<void> {
  if (refBidxs.length === 0) return;
  await db.query('DELETE FROM withheld_patient_references WHERE ref_bidx = ANY($1::bytea[])', [
    byteaArray(refBidxs),
  ]);
}
