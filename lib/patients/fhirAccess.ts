/**
 * The FHIR R4 reads: a Patient by id, any stored resource by type and id, a patient's resources
 * of one type, and a patient's compartment ($everything), through the same consent gate and
 * audit as the v1 reads (lib/patients/patientAccess.ts). Resources come back as sent, under our
 * ids, their references to stored resources rewritten to our ids.
 */
import { canRead } from '../auth/scopes.ts';
import { normalizeMrn } from '../crypto/blindIndex.ts';
import { decryptFieldText } from '../crypto/fieldCipher.ts';
import { type Queryable, withTransaction } from '../db/pool.ts';
import { type AuditEntry, appendAudit } from '../db/repositories/auditLog.ts';
import {
  type CompartmentFilters,
  countCompartment,
  countPatientResources,
  FHIR_RESOURCE_SOURCE_COLUMN,
  findFhirResource,
  findFhirResources,
  listCompartmentPage,
  type ResourceFilters,
  type ResourcePosition,
  type StoredFhirResource,
  searchPatientResources,
} from '../db/repositories/fhirResources.ts';
import { PATIENT_COLUMNS, type StoredPatient } from '../db/repositories/patients.ts';
import { ForbiddenError, InternalError, NotFoundError } from '../errors.ts';
import { descriptorOf } from '../fhir/r4/descriptors.ts';
import { referencesIn, rewriteReferences } from '../fhir/r4/references.ts';
import { type FhirJson, patientResource, resourceView, storedJson } from '../fhir/r4/resources.ts';
import {
  type EverythingPosition,
  type EverythingSearch,
  isStoredType,
  parseResourceSearch,
  patientDataDescriptor,
  type ResourceSearch,
  type SearchQuery,
  STORED_TYPES,
} from '../fhir/r4/search.ts';
import { isUuid } from '../ids.ts';
import { isJsonObject } from '../json.ts';
import type { PipelineDependencies } from '../pipeline/dependencies.ts';
import { patientIdentity } from '../pipeline/patientIdentity.ts';
import { type ReferenceResolution, resolveReferences } from './fhirReferences.ts';
import {
  auditedFor,
  type Disclosure,
  OUTSIDE_LAUNCH_CONTEXT,
  patientAudit,
  type Reader,
  readPatientWith,
} from './patientAccess.ts';

export const FHIR_READ_VIA = 'fhir-read';
export const FHIR_SEARCH_VIA = 'fhir-search';
export const FHIR_EVERYTHING_VIA = 'fhir-everything';

/** Stored JSON of the expected resource type, or a storage fault that names only the row. */
function storedResource(text: string, resourceType: string, where: string): FhirJson {
  const resource = storedJson(text);
  if (resource?.['resourceType'] !== resourceType) {
    throw new InternalError(`${where} does not hold a stored ${resourceType}`);
  }
  return resource;
}

/** The patient's source as received: a FHIR Patient, or a flat record. */
function patientSource(key: Buffer, patient: StoredPatient): FhirJson {
  const text = decryptFieldText(key, patient.sourceEnc, {
    table: 'patients',
    column: PATIENT_COLUMNS.source,
    rowId: patient.id,
  });
  return storedResource(text, 'Patient', `patients.source_enc of ${patient.id}`);
}

/** The stored patient as a FHIR Patient, decrypted under its row's data key. */
async function fhirPatientOf(
  deps: PipelineDependencies,
  db: Queryable,
  patient: StoredPatient,
): Promise<FhirJson> {
  const key = await deps.keyring.rowKey(db, patient.dataKeyId);
  try {
    return patientResource(patientSource(key, patient), {
      id: patient.id,
      lastUpdated: patient.updatedAt,
    });
  } finally {
    key.fill(0);
  }
}

/** GET /fhir/r4/Patient/{id}: the patient as a FHIR Patient, audited like a v1 read. */
export async function readFhirPatient(
  deps: PipelineDependencies,
  reader: Reader | string,
  id: string,
): Promise<FhirJson> {
  const actor = typeof reader === 'string' ? reader : reader.subject;
  return readPatientWith(deps, reader, id, {
    via: FHIR_READ_VIA,
    reveal: async (client, patient) => ({
      value: await fhirPatientOf(deps, client, patient),
      audit: [patientAudit(actor, patient.id, 'success', { via: FHIR_READ_VIA })],
    }),
  });
}

/**
 * Who reads: the audit's actor, the scopes that say which types they may, and the launch
 * patient a patient/ token is confined to (lib/patients/patientAccess.ts Reader).
 */
export interface FhirReader extends Reader {
  readonly scopes: readonly string[];
}

/**
 * 403 unless the token may read (or search) the type: audited first as one DENY row, committed
 * on its own (outside any read transaction), naming the type asked for and the id when it is one.
 */
async function requireScope(
  deps: PipelineDependencies,
  reader: FhirReader,
  resourceType: string,
  permission: 'r' | 's',
  request: { readonly via: string; readonly id?: string },
): Promise<void> {
  if (canRead(reader.scopes, resourceType, permission, reader.patient)) return;
  const id = request.id;
  await appendAudit(
    deps.pool,
    deps.auditMac,
    auditedFor(reader, [
      {
        actor: reader.subject,
        action: 'DENY',
        resourceType,
        resourceId: id !== undefined && isUuid(id) ? id.toLowerCase() : null,
        runId: null,
        outcome: 'denied',
        details: { via: request.via, reason: 'scope' },
      },
    ]),
  );
  throw new ForbiddenError(
    `the token may not ${permission === 'r' ? 'read' : 'search'} ${resourceType} resources`,
  );
}

/** The source of a stored resource as sent, decrypted under its row's data key. */
function resourceSource(key: Buffer, row: StoredFhirResource): FhirJson {
  const text = decryptFieldText(key, row.sourceEnc, {
    table: row.sealedAs,
    column: FHIR_RESOURCE_SOURCE_COLUMN,
    rowId: row.id,
  });
  return storedResource(text, row.resourceType, `fhir_resources.source_enc of ${row.id}`);
}

/** Runs `use` with each row's data key, fetched once per key and wiped after. */
async function withRowKeys<T>(
  deps: PipelineDependencies,
  db: Queryable,
  rows: readonly { readonly dataKeyId: string }[],
  use: (keyOf: (dataKeyId: string) => Buffer) => T,
): Promise<T> {
  const keys = new Map<string, Buffer>();
  try {
    for (const { dataKeyId } of rows) {
      if (!keys.has(dataKeyId)) keys.set(dataKeyId, await deps.keyring.rowKey(db, dataKeyId));
    }
    return use((dataKeyId) => keys.get(dataKeyId) as Buffer);
  } finally {
    for (const key of keys.values()) key.fill(0);
  }
}

const NO_REFERENCES: ReferenceResolution = {
  targetOf: () => undefined,
  replace: () => undefined,
  resources: [],
};

/** Every object at a dotted path below the resource, arrays crossed. */
function elementsAt(resource: unknown, path: string): Record<string, unknown>[] {
  let found: unknown[] = [resource];
  for (const name of path.split('.')) {
    found = found.flatMap((value) => {
      if (!isJsonObject(value)) return [];
      const child = value[name];
      return Array.isArray(child) ? child : child === undefined ? [] : [child];
    });
  }
  return found.filter(isJsonObject) as Record<string, unknown>[];
}

/**
 * Points the logical references (an MR identifier, no reference) that name the row's own
 * patient at our Patient, as the pipeline linked them: by the MRN's derived id. It writes into
 * `resource`, which must be a copy of the stored one (rewriteReferences makes one).
 */
function linkLogicalPatient(
  resource: FhirJson,
  row: StoredFhirResource,
  indexKey: Buffer | undefined,
): void {
  const descriptor = descriptorOf(row.resourceType);
  if (indexKey === undefined || row.patientId === null || descriptor === undefined) return;
  for (const path of descriptor.patientPaths) {
    for (const element of elementsAt(resource, path)) {
      if (typeof element['reference'] === 'string') continue;
      const identifier = element['identifier'];
      const value = isJsonObject(identifier) ? identifier['value'] : undefined;
      if (typeof value !== 'string' || normalizeMrn(value) === '') continue;
      if (patientIdentity(indexKey, value).id === row.patientId) {
        element['reference'] = `Patient/${row.patientId}`;
      }
    }
  }
}

interface Views {
  readonly views: FhirJson[];
  readonly resolution: ReferenceResolution;
}

/**
 * The API's view of a page of rows: each as sent, under our id and lastUpdated, its references
 * resolved set-wise (one look-up per table for the page) and rewritten to our ids.
 */
async function viewsOf(
  deps: PipelineDependencies,
  db: Queryable,
  reader: Reader,
  rows: readonly StoredFhirResource[],
): Promise<Views> {
  if (rows.length === 0) return { views: [], resolution: NO_REFERENCES };
  const sources = await withRowKeys(deps, db, rows, (keyOf) =>
    rows.map((row) => resourceSource(keyOf(row.dataKeyId), row)),
  );
  const indexKey = await deps.keyring.existingBlindIndexKey(db);
  try {
    const resolution =
      indexKey === undefined
        ? NO_REFERENCES
        : await resolveReferences(
            db,
            indexKey,
            rows.map((row, index) => ({
              namespace: row.namespace,
              references: referencesIn(sources[index] as FhirJson),
            })),
          );
    const views = rows.map((row, index) => {
      const rewritten = rewriteReferences(sources[index] as FhirJson, (reference) =>
        reader.patient === undefined
          ? resolution.replace(row.namespace, reference, row.patientId)
          : resolution.replace(row.namespace, reference, reader.patient, true),
      );
      linkLogicalPatient(rewritten, row, indexKey);
      return resourceView(rewritten, { id: row.id, lastUpdated: row.updatedAt });
    });
    return { views, resolution };
  } finally {
    indexKey?.fill(0);
  }
}

/** The READ row of one returned resource: ids only, and the patient it belongs to. */
function resourceAudit(
  actor: string,
  row: Pick<StoredFhirResource, 'id' | 'resourceType' | 'patientId'>,
  via: string,
  /** The patient whose data it was read with: its own, or the $everything's for a shared one. */
  patientId: string | null = row.patientId,
): AuditEntry {
  return {
    actor,
    action: 'READ',
    resourceType: row.resourceType,
    resourceId: row.id,
    runId: null,
    outcome: 'success',
    details: { via, patientId },
  };
}

function resourceMiss(actor: string, resourceType: string, id: string | null): AuditEntry {
  return {
    actor,
    action: 'READ',
    resourceType,
    resourceId: id,
    runId: null,
    outcome: 'failure',
    details: { reason: 'not-found', via: FHIR_READ_VIA },
  };
}

/**
 * GET /fhir/r4/{type}/{id}: a Patient as readFhirPatient reads it; patient data through its
 * patient's consent gate (403 and a DENY row without it); a shared resource without a gate.
 * One READ row per resource returned; a miss is audited as a failure and a 404.
 */
export async function readFhirResource(
  deps: PipelineDependencies,
  reader: FhirReader,
  resourceType: string,
  id: string,
): Promise<FhirJson> {
  if (!isStoredType(resourceType)) throw new NotFoundError('no such resource type');
  await requireScope(deps, reader, resourceType, 'r', { via: FHIR_READ_VIA, id });
  if (resourceType === 'Patient') return readFhirPatient(deps, reader, id);
  const notFound = `no such ${resourceType}`;
  const miss = async (entry?: AuditEntry): Promise<never> => {
    const audit =
      entry ?? resourceMiss(reader.subject, resourceType, isUuid(id) ? id.toLowerCase() : null);
    await appendAudit(deps.pool, deps.auditMac, auditedFor(reader, [audit]));
    throw new NotFoundError(notFound);
  };
  if (!isUuid(id)) return miss();
  const found = await findFhirResource(deps.pool, resourceType, id);
  if (found === undefined) return miss();
  // A launch context reads its patient's data only: another's, or a shared resource, is not there.
  if (reader.patient !== undefined && found.patientId !== reader.patient) {
    return miss({
      actor: reader.subject,
      action: 'DENY',
      resourceType,
      resourceId: found.id,
      runId: null,
      outcome: 'denied',
      details: { via: FHIR_READ_VIA, reason: OUTSIDE_LAUNCH_CONTEXT },
    });
  }
  const disclosed = async (client: Queryable): Promise<Disclosure<FhirJson> | undefined> => {
    // Read again inside the reading transaction: what is audited is what was there.
    const row = await findFhirResource(client, resourceType, id);
    if (row === undefined || row.patientId !== found.patientId) return undefined;
    const { views } = await viewsOf(deps, client, reader, [row]);
    return {
      value: views[0] as FhirJson,
      audit: [resourceAudit(reader.subject, row, FHIR_READ_VIA)],
    };
  };
  if (found.patientId === null) {
    const value = await withTransaction(deps.pool, async (client) => {
      const disclosure = await disclosed(client);
      if (disclosure !== undefined) {
        await appendAudit(client, deps.auditMac, auditedFor(reader, disclosure.audit));
      }
      return disclosure?.value;
    });
    return value ?? miss();
  }
  const value = await readPatientWith(deps, reader, found.patientId, {
    via: FHIR_READ_VIA,
    notFound,
    reveal: async (client) => (await disclosed(client)) ?? { value: undefined, audit: [] },
  });
  return value ?? miss();
}

/** A launch context's search names its patient when the client names none. */
function withLaunchPatient(reader: Reader, query: SearchQuery): SearchQuery {
  const named = PATIENT_SEARCH_PARAMETERS.some((name) => (query[name] ?? '') !== '');
  return reader.patient === undefined || named ? query : { ...query, patient: reader.patient };
}

/** The parameters that may name a search's patient (lib/fhir/r4/search.ts). */
const PATIENT_SEARCH_PARAMETERS = ['patient', 'subject', 'subject:Patient'];

export interface ResourcePage {
  /** The search as understood, for the page links. */
  readonly search: ResourceSearch;
  /** Every match, not only this page's. */
  readonly total: number;
  readonly resources: readonly FhirJson[];
  /** Where the next page starts after; null on the last page. */
  readonly next: ResourcePosition | null;
}

/**
 * GET /fhir/r4/{type}?patient=: one page of the patient's resources of a patient-data type,
 * only with the patient's data-sharing consent (else 403 and one DENY row), one READ row per
 * resource returned, written in the transaction that read it.
 */
export async function searchFhirResources(
  deps: PipelineDependencies,
  reader: FhirReader,
  resourceType: string,
  query: SearchQuery,
): Promise<ResourcePage> {
  if (patientDataDescriptor(resourceType) === undefined) {
    // A fixed message: the path's type segment is the client's text, never echoed.
    throw new NotFoundError('the type is not searched here: only patient-data types are');
  }
  await requireScope(deps, reader, resourceType, 's', { via: FHIR_SEARCH_VIA });
  const search = parseResourceSearch(resourceType, withLaunchPatient(reader, query));
  const filters: ResourceFilters = {
    ...(search.date?.fromMicros === undefined ? {} : { fromMicros: search.date.fromMicros }),
    ...(search.date?.toMicros === undefined ? {} : { toMicros: search.date.toMicros }),
    ...(search.code === undefined ? {} : { code: search.code.code }),
    ...(search.code?.system === undefined ? {} : { codeSystem: search.code.system }),
    ...(search.category === undefined ? {} : { category: search.category }),
    ...(search.status === undefined ? {} : { status: search.status }),
  };
  return readPatientWith(deps, reader, search.patientId, {
    via: FHIR_SEARCH_VIA,
    reveal: async (client, patient) => {
      const total = await countPatientResources(client, patient.id, resourceType, filters);
      const rows = await searchPatientResources(
        client,
        patient.id,
        resourceType,
        filters,
        search.after,
        search.count + 1,
      );
      const page = rows.slice(0, search.count);
      const { views } = await viewsOf(deps, client, reader, page);
      const last = page.at(-1);
      return {
        value: {
          search: { ...search, patientId: patient.id },
          total,
          resources: views,
          next: rows.length > search.count && last !== undefined ? last.position : null,
        },
        audit: page.map((row) => resourceAudit(reader.subject, row, FHIR_SEARCH_VIA)),
      };
    },
  });
}

export interface EverythingPage {
  /** Our id of the patient. */
  readonly patientId: string;
  /** The Patient (when returned) and every compartment resource that passes, on every page. */
  readonly total: number;
  /** The Patient on the first page, then this page of the compartment. */
  readonly resources: readonly FhirJson[];
  /** The shared resources the page's resources reference. */
  readonly included: readonly FhirJson[];
  readonly next: EverythingPosition | null;
}

/**
 * GET /fhir/r4/Patient/{id}/$everything: the Patient (first page) and a page of their
 * compartment (every row stored under them, a shared type that names them included), of the
 * types `_type` names (all when absent) that the token may read, changed
 * since `_since`; with the shared resources those reference (of the same types). Only with the
 * patient's consent (else 403 and a DENY row); one READ row per resource returned, written
 * set-wise in the transaction that read them.
 */
export async function readPatientEverything(
  deps: PipelineDependencies,
  reader: FhirReader,
  id: string,
  search: EverythingSearch,
): Promise<EverythingPage> {
  const wanted = (type: string): boolean =>
    (search.types === undefined || search.types.includes(type)) &&
    canRead(reader.scopes, type, 'r', reader.patient);
  // Always the explicit list: whatever is stored under the patient (a shared type that names
  // them, such as a Contract, is too) comes back only when the token may read its type.
  const compartmentTypes = STORED_TYPES.filter((type) => type !== 'Patient' && wanted(type));
  const filters: CompartmentFilters = {
    types: compartmentTypes,
    ...(search.sinceMicros === undefined ? {} : { sinceMicros: search.sinceMicros }),
  };
  return readPatientWith(deps, reader, id, {
    via: FHIR_EVERYTHING_VIA,
    reveal: async (client, patient) => {
      const withPatient =
        wanted('Patient') &&
        (search.sinceMicros === undefined ||
          BigInt(patient.updatedAt.getTime()) * 1000n >= BigInt(search.sinceMicros));
      const counted =
        compartmentTypes.length === 0 ? 0 : await countCompartment(client, patient.id, filters);
      const rows =
        compartmentTypes.length === 0
          ? []
          : await listCompartmentPage(client, patient.id, filters, search.after, search.count + 1);
      const page = rows.slice(0, search.count);
      const { views, resolution } = await viewsOf(deps, client, reader, page);
      const sharedIds = resolution.resources
        .filter((target) => wanted(target.resourceType))
        .map((target) => target.id);
      const sharedRows = (await findFhirResources(client, sharedIds)).filter(
        (row) => row.patientId === null,
      );
      const included = (await viewsOf(deps, client, reader, sharedRows)).views;
      const first = search.after === undefined && withPatient;
      const patientView = first ? [await fhirPatientOf(deps, client, patient)] : [];
      const last = page.at(-1);
      return {
        value: {
          patientId: patient.id,
          total: counted + (withPatient ? 1 : 0),
          resources: [...patientView, ...views],
          included,
          next:
            rows.length > search.count && last !== undefined
              ? { resourceType: last.resourceType, ...last.position }
              : null,
        },
        audit: [
          ...(first
            ? [patientAudit(reader.subject, patient.id, 'success', { via: FHIR_EVERYTHING_VIA })]
            : []),
          ...page.map((row) => resourceAudit(reader.subject, row, FHIR_EVERYTHING_VIA)),
          ...sharedRows.map((row) =>
            resourceAudit(reader.subject, row, FHIR_EVERYTHING_VIA, patient.id),
          ),
        ],
      };
    },
  });
}
