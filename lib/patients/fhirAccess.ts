/**
 * The FHIR R4 reads: a Patient by id and a patient's Observations, through the same consent
 * gate and audit as the v1 reads (lib/patients/patientAccess.ts).
 */
import { decryptFieldText } from '../crypto/fieldCipher.ts';
import type { Queryable } from '../db/pool.ts';
import type { AuditEntry } from '../db/repositories/auditLog.ts';
import {
  countPatientResources,
  FHIR_RESOURCE_SOURCE_COLUMN,
  listPatientResourcePage,
  type ResourcePosition,
  type StoredFhirResource,
} from '../db/repositories/fhirResources.ts';
import { PATIENT_COLUMNS, type StoredPatient } from '../db/repositories/patients.ts';
import { InternalError } from '../errors.ts';
import {
  type FhirJson,
  observationResource,
  patientResource,
  storedJson,
} from '../fhir/r4/resources.ts';
import type { ObservationSearch } from '../fhir/r4/search.ts';
import type { PipelineDependencies } from '../pipeline/dependencies.ts';
import { patientAudit, readPatientWith } from './patientAccess.ts';

export const FHIR_READ_VIA = 'fhir-read';
export const FHIR_SEARCH_VIA = 'fhir-search';

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

/** GET /fhir/r4/Patient/{id}: the patient as a FHIR Patient, audited like a v1 read. */
export async function readFhirPatient(
  deps: PipelineDependencies,
  actor: string,
  id: string,
): Promise<FhirJson> {
  return readPatientWith(deps, actor, id, {
    via: FHIR_READ_VIA,
    reveal: async (client, patient) => {
      const key = await deps.keyring.rowKey(client, patient.dataKeyId);
      try {
        const resource = patientResource(patientSource(key, patient), {
          id: patient.id,
          lastUpdated: patient.updatedAt,
        });
        return {
          value: resource,
          audit: [patientAudit(actor, patient.id, 'success', { via: FHIR_READ_VIA })],
        };
      } finally {
        key.fill(0);
      }
    },
  });
}

export interface ObservationPage {
  /** Our id of the patient searched. */
  readonly patientId: string;
  /** Every observation of the patient, not only this page's. */
  readonly total: number;
  readonly resources: readonly FhirJson[];
  /** Where the next page starts after; null on the last page. */
  readonly next: ResourcePosition | null;
}

function observationOf(key: Buffer, row: StoredFhirResource): FhirJson {
  const columns = {
    id: row.id,
    lastUpdated: row.updatedAt,
    patientId: row.patientId ?? '',
    status: row.status,
    category: row.category,
    codeSystem: row.codeSystem,
    code: row.code,
    effectiveAt: row.principalAt,
  };
  const text = decryptFieldText(key, row.sourceEnc, {
    table: row.sealedAs,
    column: FHIR_RESOURCE_SOURCE_COLUMN,
    rowId: row.id,
  });
  const source = storedResource(text, 'Observation', `fhir_resources.source_enc of ${row.id}`);
  return observationResource({ source }, columns);
}

/** Decrypts a page of observations; rows of one run share a data key, fetched once. */
async function decryptObservations(
  deps: PipelineDependencies,
  db: Queryable,
  rows: readonly StoredFhirResource[],
): Promise<FhirJson[]> {
  const keys = new Map<string, Buffer>();
  try {
    const resources: FhirJson[] = [];
    for (const row of rows) {
      let key = keys.get(row.dataKeyId);
      if (key === undefined) {
        key = await deps.keyring.rowKey(db, row.dataKeyId);
        keys.set(row.dataKeyId, key);
      }
      resources.push(observationOf(key, row));
    }
    return resources;
  } finally {
    for (const key of keys.values()) key.fill(0);
  }
}

/** The READ row of one returned Observation: ids only, and the patient it belongs to. */
function observationAudit(actor: string, observationId: string, patientId: string): AuditEntry {
  return {
    actor,
    action: 'READ',
    resourceType: 'Observation',
    resourceId: observationId,
    runId: null,
    outcome: 'success',
    details: { via: FHIR_SEARCH_VIA, patientId },
  };
}

/**
 * GET /fhir/r4/Observation?patient=: one page of the patient's observations, only with the
 * patient's data-sharing consent (else 403 and one DENY row), one READ row per Observation
 * returned, written in the transaction that read it.
 */
export async function searchObservations(
  deps: PipelineDependencies,
  actor: string,
  search: ObservationSearch,
): Promise<ObservationPage> {
  return readPatientWith(deps, actor, search.patientId, {
    via: FHIR_SEARCH_VIA,
    reveal: async (client, patient) => {
      const total = await countPatientResources(client, patient.id, 'Observation');
      const rows = await listPatientResourcePage(
        client,
        patient.id,
        'Observation',
        search.after,
        search.count + 1,
      );
      const page = rows.slice(0, search.count);
      const resources = await decryptObservations(deps, client, page);
      const last = page.at(-1);
      return {
        value: {
          patientId: patient.id,
          total,
          resources,
          next: rows.length > search.count && last !== undefined ? last.position : null,
        },
        audit: page.map((row) => observationAudit(actor, row.id, patient.id)),
      };
    },
  });
}
