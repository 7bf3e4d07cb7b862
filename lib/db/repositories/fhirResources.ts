import type { Queryable } from '../pool.ts';
import type { UpsertOutcome } from '../upsertOutcome.ts';

export const FHIR_RESOURCES_TABLE = 'fhir_resources';
/** The encrypted column of `fhir_resources`: the resource as sent, bound by its AAD to its row. */
export const FHIR_RESOURCE_SOURCE_COLUMN = 'source_enc';

/**
 * A stored FHIR resource other than a Patient or a Consent: in clear what search needs (none of
 * it a direct identifier), the resource as sent encrypted. `patientId` is null for a resource
 * shared by many patients (a Practitioner, an Organization).
 */
export interface FhirResourceRow {
  readonly id: string;
  readonly resourceType: string;
  readonly patientId: string | null;
  readonly status: string | null;
  readonly codeSystem: string | null;
  readonly code: string | null;
  readonly category: string | null;
  /** The type's principal date (an Observation's effective time, a Condition's onset). */
  readonly principalAt: Date | null;
  readonly sourceEnc: Buffer;
  readonly recordDigest: Buffer;
  readonly dataKeyId: string;
}

/**
 * Upserts by id; a resource whose record digest did not change is left untouched. A row moved
 * from `observations` is sealed as `fhir_resources` once written again.
 */
export async function upsertFhirResources(
  db: Queryable,
  runId: string | null,
  rows: readonly FhirResourceRow[],
): Promise<UpsertOutcome> {
  if (rows.length === 0) return { created: [], updated: [], unchanged: [] };
  // One lock order for every writer: concurrent runs cannot deadlock.
  const ordered = rows.toSorted((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const { rows: written } = await db.query<{ id: string; inserted: boolean }>(
    `INSERT INTO fhir_resources AS f (id, resource_type, patient_id, status, code_system, code,
       category, principal_at, source_enc, record_digest, data_key_id, created_run_id,
       updated_run_id)
     SELECT r.*, $12::uuid, $12::uuid
     FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[],
       $7::text[], $8::timestamptz[], $9::bytea[], $10::bytea[], $11::uuid[]) AS r
     ON CONFLICT (id) DO UPDATE SET
       resource_type = EXCLUDED.resource_type, patient_id = EXCLUDED.patient_id,
       status = EXCLUDED.status, code_system = EXCLUDED.code_system, code = EXCLUDED.code,
       category = EXCLUDED.category, principal_at = EXCLUDED.principal_at,
       source_enc = EXCLUDED.source_enc, sealed_as = 'fhir_resources',
       record_digest = EXCLUDED.record_digest, data_key_id = EXCLUDED.data_key_id,
       updated_run_id = EXCLUDED.updated_run_id, updated_at = now()
     WHERE f.record_digest IS DISTINCT FROM EXCLUDED.record_digest
     RETURNING id, (xmax = 0) AS inserted`,
    [
      ordered.map((row) => row.id),
      ordered.map((row) => row.resourceType),
      ordered.map((row) => row.patientId),
      ordered.map((row) => row.status),
      ordered.map((row) => row.codeSystem),
      ordered.map((row) => row.code),
      ordered.map((row) => row.category),
      ordered.map((row) => row.principalAt),
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

/** Another key a stored resource is named by (a fullUrl, an identifier), by its blind index. */
export interface ResourceReferenceRow {
  readonly refBidx: Buffer;
  readonly resourceId: string;
}

/** Records the keys each resource is known by; a key the sender reused moves to the newer resource. */
export async function upsertResourceReferences(
  db: Queryable,
  runId: string,
  rows: readonly ResourceReferenceRow[],
): Promise<void> {
  if (rows.length === 0) return;
  const ordered = rows.toSorted((a, b) => Buffer.compare(a.refBidx, b.refBidx));
  await db.query(
    `INSERT INTO resource_references AS r (ref_bidx, resource_id, run_id)
     SELECT b, i, $3::uuid FROM unnest($1::bytea[], $2::uuid[]) AS u(b, i)
     ON CONFLICT (ref_bidx) DO UPDATE SET
       resource_id = EXCLUDED.resource_id, run_id = EXCLUDED.run_id, updated_at = now()
     WHERE r.resource_id IS DISTINCT FROM EXCLUDED.resource_id`,
    [ordered.map((row) => row.refBidx), ordered.map((row) => row.resourceId), runId],
  );
}

/**
 * Where a resource stands in a patient's list of one type (principal date, then id; no date
 * last). The time is in microseconds since the epoch, as PostgreSQL keeps it, so a position
 * taken from one page matches the row exactly on the next.
 */
export interface ResourcePosition {
  /** Microseconds since 1970-01-01 UTC as a decimal string, or null for no date. */
  readonly effectiveMicros: string | null;
  readonly id: string;
}

export interface StoredFhirResource extends FhirResourceRow {
  /** The table its source's AAD names: `fhir_resources`, or `observations` for a moved row. */
  readonly sealedAs: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly position: ResourcePosition;
}

interface FhirResourceRecord {
  id: string;
  resource_type: string;
  patient_id: string | null;
  status: string | null;
  code_system: string | null;
  code: string | null;
  category: string | null;
  principal_at: Date | null;
  source_enc: Buffer;
  sealed_as: string;
  record_digest: Buffer;
  data_key_id: string;
  created_at: Date;
  updated_at: Date;
  principal_micros: string | null;
}

function storedOf(row: FhirResourceRecord): StoredFhirResource {
  return {
    id: row.id,
    resourceType: row.resource_type,
    patientId: row.patient_id,
    status: row.status,
    codeSystem: row.code_system,
    code: row.code,
    category: row.category,
    principalAt: row.principal_at,
    sourceEnc: row.source_enc,
    sealedAs: row.sealed_as,
    recordDigest: row.record_digest,
    dataKeyId: row.data_key_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    position: { effectiveMicros: row.principal_micros, id: row.id },
  };
}

/**
 * One page of a patient's resources of one type in principal date order, then id, those
 * without a date last: the `limit` rows after `after` (keyset paging, no OFFSET). Read
 * `limit + 1` to know whether another page follows.
 */
export async function listPatientResourcePage(
  db: Queryable,
  patientId: string,
  resourceType: string,
  after: ResourcePosition | undefined,
  /** null: every row after `after`. */
  limit: number | null,
): Promise<StoredFhirResource[]> {
  const { rows } = await db.query<FhirResourceRecord>(
    `SELECT id, resource_type, patient_id, status, code_system, code, category, principal_at,
            source_enc, sealed_as, record_digest, data_key_id, created_at, updated_at,
            (extract(epoch FROM principal_at) * 1000000)::bigint::text AS principal_micros
     FROM fhir_resources
     WHERE patient_id = $1 AND resource_type = $2
       AND ($4::uuid IS NULL
         OR CASE WHEN $3::bigint IS NULL THEN principal_at IS NULL AND id > $4::uuid
            ELSE (principal_at, id) > ('epoch'::timestamptz + $3::bigint * interval '1 microsecond', $4::uuid)
                 OR principal_at IS NULL
            END)
     ORDER BY principal_at NULLS LAST, id
     LIMIT $5`,
    [patientId, resourceType, after?.effectiveMicros ?? null, after?.id ?? null, limit],
  );
  return rows.map(storedOf);
}

/** Every resource of one type of a patient, in the order the FHIR search pages them. */
export function listPatientResources(
  db: Queryable,
  patientId: string,
  resourceType: string,
): Promise<StoredFhirResource[]> {
  return listPatientResourcePage(db, patientId, resourceType, undefined, null);
}

export async function countPatientResources(
  db: Queryable,
  patientId: string,
  resourceType: string,
): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM fhir_resources WHERE patient_id = $1 AND resource_type = $2',
    [patientId, resourceType],
  );
  return rows[0]?.n ?? 0;
}
