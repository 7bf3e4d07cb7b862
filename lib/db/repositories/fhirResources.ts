import { byteaArray, textArray, timestamptzArray, uuidArray } from '../binaryArrays.ts';
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
      uuidArray(ordered.map((row) => row.id)),
      textArray(ordered.map((row) => row.resourceType)),
      uuidArray(ordered.map((row) => row.patientId)),
      textArray(ordered.map((row) => row.status)),
      textArray(ordered.map((row) => row.codeSystem)),
      textArray(ordered.map((row) => row.code)),
      textArray(ordered.map((row) => row.category)),
      timestamptzArray(ordered.map((row) => row.principalAt)),
      byteaArray(ordered.map((row) => row.sourceEnc)),
      byteaArray(ordered.map((row) => row.recordDigest)),
      uuidArray(ordered.map((row) => row.dataKeyId)),
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
    [
      byteaArray(ordered.map((row) => row.refBidx)),
      uuidArray(ordered.map((row) => row.resourceId)),
      runId,
    ],
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
  /**
   * The namespace its references are read in: the actor of the run that last wrote it. Null
   * when that run is gone: its references stay as sent.
   */
  readonly namespace: string | null;
}

/** Search filters on the clear columns; each absent one matches everything. */
export interface ResourceFilters {
  /** `[from, to)` of the principal date, microseconds since the epoch. */
  readonly fromMicros?: string;
  readonly toMicros?: string;
  readonly code?: string;
  /** A code system to match too; null matches a code without one. */
  readonly codeSystem?: string | null;
  readonly category?: string;
  readonly status?: string;
}

/** Where a page of a patient's compartment ended: by type, then as in a search of that type. */
export interface CompartmentPosition extends ResourcePosition {
  readonly resourceType: string;
}

export interface CompartmentFilters {
  /** The patient-data types to read; absent: every type. */
  readonly types?: readonly string[];
  /** Changed at or after, in microseconds since the epoch. */
  readonly sinceMicros?: string;
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
  namespace: string | null;
}

const READ_COLUMNS = `f.id, f.resource_type, f.patient_id, f.status, f.code_system, f.code,
  f.category, f.principal_at, f.source_enc, f.sealed_as, f.record_digest, f.data_key_id,
  f.created_at, f.updated_at,
  (extract(epoch FROM f.principal_at) * 1000000)::bigint::text AS principal_micros,
  r.actor AS namespace`;
const FROM_READS = 'fhir_resources f LEFT JOIN ingest_runs r ON r.id = f.updated_run_id';
const INSTANT = (parameter: string): string =>
  `('epoch'::timestamptz + ${parameter}::bigint * interval '1 microsecond')`;

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
    namespace: row.namespace,
  };
}

/** The resource of that type and id, or undefined. */
export async function findFhirResource(
  db: Queryable,
  resourceType: string,
  id: string,
): Promise<StoredFhirResource | undefined> {
  const { rows } = await db.query<FhirResourceRecord>(
    `SELECT ${READ_COLUMNS} FROM ${FROM_READS} WHERE f.id = $1 AND f.resource_type = $2`,
    [id, resourceType],
  );
  const row = rows[0];
  return row === undefined ? undefined : storedOf(row);
}

/** The resources of these ids, in no particular order; ids not stored are left out. */
export async function findFhirResources(
  db: Queryable,
  ids: readonly string[],
): Promise<StoredFhirResource[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<FhirResourceRecord>(
    `SELECT ${READ_COLUMNS} FROM ${FROM_READS} WHERE f.id = ANY($1::uuid[]) ORDER BY f.id`,
    [ids],
  );
  return rows.map(storedOf);
}

// $1 patient, $2 type, $3..$9 the filters.
const FILTERED = `f.patient_id = $1 AND f.resource_type = $2
  AND ($3::bigint IS NULL OR f.principal_at >= ${INSTANT('$3')})
  AND ($4::bigint IS NULL OR f.principal_at < ${INSTANT('$4')})
  AND ($5::text IS NULL OR f.code = $5)
  AND (NOT $6::boolean OR f.code_system IS NOT DISTINCT FROM $7::text)
  AND ($8::text IS NULL OR f.category = $8)
  AND ($9::text IS NULL OR f.status = $9)`;

function filterParameters(
  patientId: string,
  resourceType: string,
  filters: ResourceFilters,
): unknown[] {
  return [
    patientId,
    resourceType,
    filters.fromMicros ?? null,
    filters.toMicros ?? null,
    filters.code ?? null,
    filters.codeSystem !== undefined,
    filters.codeSystem ?? null,
    filters.category ?? null,
    filters.status ?? null,
  ];
}

/**
 * One page of a patient's resources of one type that pass the filters, in principal date
 * order, then id, those without a date last: the `limit` rows after `after` (keyset paging, no
 * OFFSET). Read `limit + 1` to know whether another page follows.
 */
export async function searchPatientResources(
  db: Queryable,
  patientId: string,
  resourceType: string,
  filters: ResourceFilters,
  after: ResourcePosition | undefined,
  /** null: every row after `after`. */
  limit: number | null,
): Promise<StoredFhirResource[]> {
  const { rows } = await db.query<FhirResourceRecord>(
    `SELECT ${READ_COLUMNS} FROM ${FROM_READS}
     WHERE ${FILTERED}
       AND ($11::uuid IS NULL
         OR CASE WHEN $10::bigint IS NULL THEN f.principal_at IS NULL AND f.id > $11::uuid
            ELSE (f.principal_at, f.id) > (${INSTANT('$10')}, $11::uuid) OR f.principal_at IS NULL
            END)
     ORDER BY f.principal_at NULLS LAST, f.id
     LIMIT $12`,
    [
      ...filterParameters(patientId, resourceType, filters),
      after?.effectiveMicros ?? null,
      after?.id ?? null,
      limit,
    ],
  );
  return rows.map(storedOf);
}

/** Every resource of one type of a patient, in the order the FHIR search pages them. */
export function listPatientResources(
  db: Queryable,
  patientId: string,
  resourceType: string,
): Promise<StoredFhirResource[]> {
  return searchPatientResources(db, patientId, resourceType, {}, undefined, null);
}

/** How many of a patient's resources of one type pass the filters, on every page. */
export async function countPatientResources(
  db: Queryable,
  patientId: string,
  resourceType: string,
  filters: ResourceFilters = {},
): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM fhir_resources f WHERE ${FILTERED}`,
    filterParameters(patientId, resourceType, filters),
  );
  return rows[0]?.n ?? 0;
}

// $1 patient, $2 types (null: all), $3 since.
const IN_COMPARTMENT = `f.patient_id = $1
  AND ($2::text[] IS NULL OR f.resource_type = ANY($2::text[]))
  AND ($3::bigint IS NULL OR f.updated_at >= ${INSTANT('$3')})`;

function compartmentParameters(patientId: string, filters: CompartmentFilters): unknown[] {
  return [patientId, filters.types ?? null, filters.sinceMicros ?? null];
}

/**
 * One page of a patient's compartment (every resource that names them), by type, then
 * principal date (none last), then id: the `limit` rows after `after`.
 */
export async function listCompartmentPage(
  db: Queryable,
  patientId: string,
  filters: CompartmentFilters,
  after: CompartmentPosition | undefined,
  limit: number,
): Promise<StoredFhirResource[]> {
  const { rows } = await db.query<FhirResourceRecord>(
    `SELECT ${READ_COLUMNS} FROM ${FROM_READS}
     WHERE ${IN_COMPARTMENT}
       AND ($4::text IS NULL OR f.resource_type > $4::text
         OR (f.resource_type = $4::text AND
           CASE WHEN $5::bigint IS NULL THEN f.principal_at IS NULL AND f.id > $6::uuid
           ELSE (f.principal_at, f.id) > (${INSTANT('$5')}, $6::uuid) OR f.principal_at IS NULL
           END))
     ORDER BY f.resource_type, f.principal_at NULLS LAST, f.id
     LIMIT $7`,
    [
      ...compartmentParameters(patientId, filters),
      after?.resourceType ?? null,
      after?.effectiveMicros ?? null,
      after?.id ?? null,
      limit,
    ],
  );
  return rows.map(storedOf);
}

/** How many resources of the compartment pass the filters, on every page. */
export async function countCompartment(
  db: Queryable,
  patientId: string,
  filters: CompartmentFilters,
): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM fhir_resources f WHERE ${IN_COMPARTMENT}`,
    compartmentParameters(patientId, filters),
  );
  return rows[0]?.n ?? 0;
}

/** A stored resource's type, by id, for those of the ids that are stored. */
export async function findResourceTypes(
  db: Queryable,
  ids: readonly string[],
): Promise<Map<string, ReferencedResource>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.query<ReferencedRecord>(
    `SELECT f.id, f.resource_type, f.patient_id, c.data_sharing
     FROM fhir_resources f LEFT JOIN consents c ON c.patient_id = f.patient_id
     WHERE f.id = ANY($1::uuid[])`,
    [ids],
  );
  return new Map(rows.map((row) => [row.id, referencedOf(row)]));
}

/** A stored resource a reference names, and whether its patient (if any) shares data now. */
export interface ReferencedResource {
  readonly id: string;
  readonly resourceType: string;
  /** Null for a resource shared by many patients. */
  readonly patientId: string | null;
  /** Its patient's data-sharing consent on record; false without one. */
  readonly patientShares: boolean;
}

interface ReferencedRecord {
  id: string;
  resource_type: string;
  patient_id: string | null;
  data_sharing: boolean | null;
}

function referencedOf(row: ReferencedRecord): ReferencedResource {
  return {
    id: row.id,
    resourceType: row.resource_type,
    patientId: row.patient_id,
    patientShares: row.data_sharing === true,
  };
}

/** The stored resources these keys name, by key blind index (base64). */
export async function findResourcesByReference(
  db: Queryable,
  refBidxs: readonly Buffer[],
): Promise<Map<string, ReferencedResource>> {
  if (refBidxs.length === 0) return new Map();
  const { rows } = await db.query<ReferencedRecord & { ref_bidx: Buffer }>(
    `SELECT rr.ref_bidx, f.id, f.resource_type, f.patient_id, c.data_sharing
     FROM resource_references rr JOIN fhir_resources f ON f.id = rr.resource_id
       LEFT JOIN consents c ON c.patient_id = f.patient_id
     WHERE rr.ref_bidx = ANY($1::bytea[])`,
    [byteaArray(refBidxs)],
  );
  return new Map(rows.map((row) => [row.ref_bidx.toString('base64'), referencedOf(row)]));
}

/** The stored patients these references name, by blind index (base64), and whether they share. */
export async function findReferencedPatients(
  db: Queryable,
  refBidxs: readonly Buffer[],
): Promise<Map<string, { readonly id: string; readonly shares: boolean }>> {
  if (refBidxs.length === 0) return new Map();
  const { rows } = await db.query<{
    ref_bidx: Buffer;
    patient_id: string;
    data_sharing: boolean | null;
  }>(
    `SELECT pr.ref_bidx, pr.patient_id, c.data_sharing
     FROM patient_references pr LEFT JOIN consents c ON c.patient_id = pr.patient_id
     WHERE pr.ref_bidx = ANY($1::bytea[])`,
    [byteaArray(refBidxs)],
  );
  return new Map(
    rows.map((row) => [
      row.ref_bidx.toString('base64'),
      { id: row.patient_id, shares: row.data_sharing === true },
    ]),
  );
}
