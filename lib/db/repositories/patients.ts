import { byteaArray, textArray, uuidArray } from '../binaryArrays.ts';
import type { Queryable } from '../pool.ts';
import type { UpsertOutcome } from '../upsertOutcome.ts';

/** The encrypted columns of `patients`, as each field's ciphertext is bound to by its AAD. */
export const PATIENT_COLUMNS = {
  mrn: 'mrn_enc',
  name: 'name_enc',
  birthDate: 'birth_date_enc',
  ssn: 'ssn_enc',
  address: 'address_enc',
  telecom: 'telecom_enc',
  source: 'source_enc',
} as const;

/** A patient row as Transform builds it: every PHI column already ciphertext. */
export interface PatientRow {
  readonly id: string;
  readonly mrnBidx: Buffer;
  readonly ssnBidx: Buffer | null;
  readonly mrnEnc: Buffer;
  readonly nameEnc: Buffer | null;
  readonly birthDateEnc: Buffer | null;
  readonly ssnEnc: Buffer | null;
  readonly addressEnc: Buffer | null;
  readonly telecomEnc: Buffer | null;
  /** The resource as received (a flat record's JSON for a flat patient). */
  readonly sourceEnc: Buffer;
  readonly gender: string | null;
  readonly recordDigest: Buffer;
  readonly dataKeyId: string;
}

export interface StoredPatient extends PatientRow {
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/**
 * Upserts by id (derived from the MRN blind index, so one MRN is one row) in one statement. A row whose record digest did not
 * change is not rewritten, so re-ingesting the same data changes nothing.
 */
export async function upsertPatients(
  db: Queryable,
  runId: string | null,
  rows: readonly PatientRow[],
): Promise<UpsertOutcome> {
  if (rows.length === 0) return { created: [], updated: [], unchanged: [] };
  // One lock order for every writer: concurrent runs sharing MRNs cannot deadlock.
  const ordered = rows.toSorted((a, b) => Buffer.compare(a.mrnBidx, b.mrnBidx));
  const { rows: written } = await db.query<{ id: string; inserted: boolean }>(
    `INSERT INTO patients AS p (id, mrn_bidx, ssn_bidx, mrn_enc, name_enc, birth_date_enc, ssn_enc,
       address_enc, telecom_enc, source_enc, gender, record_digest, data_key_id,
       created_run_id, updated_run_id)
     SELECT r.*, $14::uuid, $14::uuid
     FROM unnest($1::uuid[], $2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bytea[],
       $7::bytea[], $8::bytea[], $9::bytea[], $10::bytea[], $11::text[], $12::bytea[], $13::uuid[]) AS r
     ON CONFLICT (id) DO UPDATE SET
       ssn_bidx = EXCLUDED.ssn_bidx, mrn_enc = EXCLUDED.mrn_enc, name_enc = EXCLUDED.name_enc,
       birth_date_enc = EXCLUDED.birth_date_enc, ssn_enc = EXCLUDED.ssn_enc,
       address_enc = EXCLUDED.address_enc, telecom_enc = EXCLUDED.telecom_enc,
       source_enc = EXCLUDED.source_enc, gender = EXCLUDED.gender,
       record_digest = EXCLUDED.record_digest, data_key_id = EXCLUDED.data_key_id,
       updated_run_id = EXCLUDED.updated_run_id, updated_at = now()
     WHERE p.record_digest IS DISTINCT FROM EXCLUDED.record_digest
     RETURNING id, (xmax = 0) AS inserted`,
    [
      uuidArray(ordered.map((row) => row.id)),
      byteaArray(ordered.map((row) => row.mrnBidx)),
      byteaArray(ordered.map((row) => row.ssnBidx)),
      byteaArray(ordered.map((row) => row.mrnEnc)),
      byteaArray(ordered.map((row) => row.nameEnc)),
      byteaArray(ordered.map((row) => row.birthDateEnc)),
      byteaArray(ordered.map((row) => row.ssnEnc)),
      byteaArray(ordered.map((row) => row.addressEnc)),
      byteaArray(ordered.map((row) => row.telecomEnc)),
      byteaArray(ordered.map((row) => row.sourceEnc)),
      textArray(ordered.map((row) => row.gender)),
      byteaArray(ordered.map((row) => row.recordDigest)),
      uuidArray(ordered.map((row) => row.dataKeyId)),
      runId,
    ],
  );
  const created = written.filter((row) => row.inserted).map((row) => row.id);
  const updated = written.filter((row) => !row.inserted).map((row) => row.id);
  const touched = new Set(written.map((row) => row.id));
  const unchanged = rows.map((row) => row.id).filter((id) => !touched.has(id));
  return { created, updated, unchanged };
}

interface PatientRecordRow {
  id: string;
  mrn_bidx: Buffer;
  ssn_bidx: Buffer | null;
  mrn_enc: Buffer;
  name_enc: Buffer | null;
  birth_date_enc: Buffer | null;
  ssn_enc: Buffer | null;
  address_enc: Buffer | null;
  telecom_enc: Buffer | null;
  source_enc: Buffer;
  gender: string | null;
  record_digest: Buffer;
  data_key_id: string;
  created_at: Date;
  updated_at: Date;
}

function fromRecord(row: PatientRecordRow): StoredPatient {
  return {
    id: row.id,
    mrnBidx: row.mrn_bidx,
    ssnBidx: row.ssn_bidx,
    mrnEnc: row.mrn_enc,
    nameEnc: row.name_enc,
    birthDateEnc: row.birth_date_enc,
    ssnEnc: row.ssn_enc,
    addressEnc: row.address_enc,
    telecomEnc: row.telecom_enc,
    sourceEnc: row.source_enc,
    gender: row.gender,
    recordDigest: row.record_digest,
    dataKeyId: row.data_key_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export async function findPatientById(
  db: Queryable,
  id: string,
): Promise<StoredPatient | undefined> {
  const { rows } = await db.query<PatientRecordRow>('SELECT * FROM patients WHERE id = $1', [id]);
  return rows[0] === undefined ? undefined : fromRecord(rows[0]);
}

export async function findPatientByMrnIndex(
  db: Queryable,
  mrnBidx: Buffer,
): Promise<StoredPatient | undefined> {
  const { rows } = await db.query<PatientRecordRow>('SELECT * FROM patients WHERE mrn_bidx = $1', [
    mrnBidx,
  ]);
  return rows[0] === undefined ? undefined : fromRecord(rows[0]);
}

/** Which of these patient ids are stored. */
export async function findStoredPatientIds(
  db: Queryable,
  ids: readonly string[],
): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await db.query<{ id: string }>(
    'SELECT id FROM patients WHERE id = ANY($1::uuid[])',
    [ids],
  );
  return new Set(rows.map((row) => row.id));
}
