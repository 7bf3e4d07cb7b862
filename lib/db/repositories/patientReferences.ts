import { byteaArray, uuidArray } from '../binaryArrays.ts';
import type { Queryable } from '../pool.ts';

/** One way FHIR names a stored patient (`Patient/<id>`), by its blind index. */
export interface PatientReferenceRow {
  readonly refBidx: Buffer;
  readonly patientId: string;
}

/**
 * Records the references each patient is known by. A reference already pointing at another
 * patient moves to the newer one: the sender reused its id for the record it now sends.
 */
export async function upsertPatientReferences(
  db: Queryable,
  runId: string,
  rows: readonly PatientReferenceRow[],
): Promise<void> {
  if (rows.length === 0) return;
  // One lock order for every writer: concurrent runs sharing references cannot deadlock.
  const ordered = rows.toSorted((a, b) => Buffer.compare(a.refBidx, b.refBidx));
  await db.query(
    `INSERT INTO patient_references AS r (ref_bidx, patient_id, run_id)
     SELECT b, p, $3::uuid FROM unnest($1::bytea[], $2::uuid[]) AS u(b, p)
     ON CONFLICT (ref_bidx) DO UPDATE SET
       patient_id = EXCLUDED.patient_id, run_id = EXCLUDED.run_id, updated_at = now()
     WHERE r.patient_id IS DISTINCT FROM EXCLUDED.patient_id`,
    [
      byteaArray(ordered.map((row) => row.refBidx)),
      uuidArray(ordered.map((row) => row.patientId)),
      runId,
    ],
  );
}

/** The stored patients these references name, by reference blind index (base64). */
export async function findPatientsByReference(
  db: Queryable,
  refBidxs: readonly Buffer[],
): Promise<Map<string, string>> {
  if (refBidxs.length === 0) return new Map();
  const { rows } = await db.query<{ ref_bidx: Buffer; patient_id: string }>(
    'SELECT ref_bidx, patient_id FROM patient_references WHERE ref_bidx = ANY($1::bytea[])',
    [byteaArray(refBidxs)],
  );
  return new Map(rows.map((row) => [row.ref_bidx.toString('base64'), row.patient_id]));
}

/**
 * Patients found by references written before references were kept per sender (migration
 * 1764000008000): under the blind index of the key alone, and only those the same sender wrote,
 * by the actor of the run that wrote them. Keyed by blind index (base64).
 */
export async function findPatientsBySendersEarlierReference(
  db: Queryable,
  refBidxs: readonly Buffer[],
  actor: string,
): Promise<Map<string, string>> {
  if (refBidxs.length === 0) return new Map();
  const { rows } = await db.query<{ ref_bidx: Buffer; patient_id: string }>(
    `SELECT pr.ref_bidx, pr.patient_id
     FROM patient_references pr JOIN ingest_runs r ON r.id = pr.run_id
     WHERE pr.ref_bidx = ANY($1::bytea[]) AND r.actor = $2`,
    [byteaArray(refBidxs), actor],
  );
  return new Map(rows.map((row) => [row.ref_bidx.toString('base64'), row.patient_id]));
}
