import { createHmac, createSecretKey } from 'node:crypto';
import { blindIndex } from '../crypto/blindIndex.ts';
import { encryptField, type SecretKeyMaterial } from '../crypto/fieldCipher.ts';
import type { ConsentRow } from '../db/repositories/consents.ts';
import {
  FHIR_RESOURCE_SOURCE_COLUMN,
  FHIR_RESOURCES_TABLE,
  type FhirResourceRow,
  type ResourceReferenceRow,
} from '../db/repositories/fhirResources.ts';
import type { IngestRun } from '../db/repositories/ingestRuns.ts';
import type { PatientReferenceRow } from '../db/repositories/patientReferences.ts';
import { PATIENT_COLUMNS, type PatientRow } from '../db/repositories/patients.ts';
import type { PendingConsentRow } from '../db/repositories/pendingConsents.ts';
import type { PatientRecord } from '../fhir/model.ts';
import { descriptorOf } from '../fhir/r4/descriptors.ts';
import type { FhirPatientRecord } from '../fhir/r4/model.ts';
import { identifierKeys } from '../fhir/r4/references.ts';
import { canonicalJson } from '../json.ts';
import type { PipelineDependencies } from './dependencies.ts';
import { patientIdentity } from './patientIdentity.ts';
import {
  type LinkedResource,
  type PatientEntry,
  type PatientLink,
  type PatientsPayload,
  refuseEarlierPayload,
  type TransformedPayload,
} from './payloads.ts';
import { referenceIndex, resourceIdOf, sourceNamespace } from './resourceIdentity.ts';
import { runStage } from './stageFrame.ts';
import type { StageResult } from './stages.ts';

interface Keys {
  readonly dataKey: SecretKeyMaterial;
  readonly dataKeyId: string;
  readonly indexKey: SecretKeyMaterial;
  /** The sender's namespace its ids and references are kept in. */
  readonly namespace: string;
}

/** A keyed digest of content: equal content, equal digest, and nothing learnt from it. */
function contentDigest(indexKey: SecretKeyMaterial, kind: string, content: unknown): Buffer {
  return createHmac('sha256', indexKey).update(`${kind}:`).update(canonicalJson(content)).digest();
}

function isFhirPatient(record: PatientRecord): record is FhirPatientRecord {
  return Object.hasOwn(record, 'source');
}

const asJson = (value: unknown): string | undefined =>
  value === undefined ? undefined : JSON.stringify(value);

export function buildPatientRow(record: PatientRecord, keys: Keys): PatientRow {
  const { id, mrnBidx } = patientIdentity(keys.indexKey, record.mrn);
  const sealed = (column: string, value: string): Buffer =>
    encryptField(keys.dataKey, value, { table: 'patients', column, rowId: id });
  const seal = (column: string, value: string | undefined): Buffer | null =>
    value === undefined ? null : sealed(column, value);
  const fhir = isFhirPatient(record) ? record : undefined;
  // The consent object is not the patient's data: it lives in `consents`, with its history.
  const { consent: _consent, ...content } = record;
  return {
    id,
    mrnBidx,
    ssnBidx: record.ssn === undefined ? null : blindIndex(keys.indexKey, 'ssn', record.ssn),
    mrnEnc: sealed(PATIENT_COLUMNS.mrn, record.mrn),
    nameEnc: seal(PATIENT_COLUMNS.name, record.name),
    birthDateEnc: seal(PATIENT_COLUMNS.birthDate, record.birthDate),
    ssnEnc: seal(PATIENT_COLUMNS.ssn, record.ssn),
    addressEnc: seal(PATIENT_COLUMNS.address, asJson(fhir?.address)),
    telecomEnc: seal(PATIENT_COLUMNS.telecom, asJson(fhir?.telecom)),
    // A FHIR Patient is kept whole, as received, so nothing it carried is lost.
    sourceEnc: sealed(PATIENT_COLUMNS.source, JSON.stringify(fhir?.source ?? record)),
    gender: record.gender ?? null,
    recordDigest: contentDigest(keys.indexKey, 'patient-record', content),
    dataKeyId: keys.dataKeyId,
  };
}

const dateOf = (value: string | undefined): Date | null =>
  value === undefined ? null : new Date(value);

/**
 * A resource's row: our id from the sender's namespace and what names it at the source (its
 * `Type/id`, else its fullUrl, else its content), so sending it again updates the same row;
 * the resource sealed whole; in clear only what its descriptor says search needs.
 */
export function buildResourceRow(
  resource: LinkedResource,
  patientId: string | null,
  keys: Keys,
): FhirResourceRow {
  const sourceKey =
    resource.sourceKey ??
    `digest:${contentDigest(keys.indexKey, 'resource-source', resource.resource).toString('base64')}`;
  const id = resourceIdOf(keys.indexKey, keys.namespace, sourceKey);
  const { search } = resource;
  return {
    id,
    resourceType: resource.resourceType,
    patientId,
    status: search.status ?? null,
    codeSystem: search.codeSystem ?? null,
    code: search.code ?? null,
    category: search.category ?? null,
    principalAt: dateOf(search.date),
    sourceEnc: encryptField(keys.dataKey, JSON.stringify(resource.resource), {
      table: FHIR_RESOURCES_TABLE,
      column: FHIR_RESOURCE_SOURCE_COLUMN,
      rowId: id,
    }),
    recordDigest: contentDigest(keys.indexKey, 'fhir-resource', {
      patientId,
      resource: resource.resource,
    }),
    dataKeyId: keys.dataKeyId,
  };
}

/**
 * The other keys a resource is named by: its fullUrl, and, for a resource shared by many
 * patients, `Type?identifier=system|value` per identifier (conditional references).
 */
function resourceReferenceRows(
  resource: LinkedResource,
  id: string,
  keys: Keys,
): ResourceReferenceRow[] {
  const named = new Set<string>();
  if (resource.fullUrl !== undefined && resource.fullUrl !== resource.sourceKey) {
    named.add(resource.fullUrl);
  }
  if (descriptorOf(resource.resourceType)?.kind === 'shared') {
    for (const key of identifierKeys(resource.resourceType, resource.resource)) named.add(key);
  }
  return [...named].map((key) => ({
    refBidx: referenceIndex(keys.indexKey, keys.namespace, key),
    resourceId: id,
  }));
}

function consentRow(entry: PatientEntry, patientId: string, run: IngestRun): ConsentRow {
  return {
    patientId,
    dataSharing: entry.record.consent?.data_sharing === true,
    research: entry.record.consent?.research === true,
    source: 'ingest',
    recordedAt: run.createdAt,
    explicit: false,
    recordedBy: run.actor,
    runId: run.id,
  };
}

/** Transform: build the rows, PHI encrypted under the run's data key, MRN and SSN blind-indexed. */
export function transform(deps: PipelineDependencies, runId: string): Promise<StageResult> {
  return runStage<PatientsPayload>(deps, 'transform', runId, async (consented, { run, key }) => {
    refuseEarlierPayload(consented, ['linkedObservations']);
    const indexKey = await deps.keyring.blindIndexKeyObject(deps.pool);
    // A key object made once: thousands of fields are sealed under it.
    const keys: Keys = {
      dataKey: createSecretKey(key),
      dataKeyId: run.dataKeyId,
      indexKey,
      namespace: sourceNamespace(run),
    };
    const patients: PatientRow[] = [];
    const consents: ConsentRow[] = [];
    const references: PatientReferenceRow[] = [];
    const idByIndex = new Map<number, string>();
    const patientOrigins = new Map<string, number>();
    for (const entry of consented.records) {
      const row = buildPatientRow(entry.record, keys);
      idByIndex.set(entry.index, row.id);
      patientOrigins.set(row.id, entry.index);
      patients.push(row);
      for (const referenceKey of entry.referenceKeys ?? []) {
        references.push({
          refBidx: referenceIndex(indexKey, keys.namespace, referenceKey),
          patientId: row.id,
        });
      }
      if (run.format === 'flat') consents.push(consentRow(entry, row.id, run));
    }
    const patientIdOf = (link: PatientLink): string | undefined =>
      'patientId' in link ? link.patientId : idByIndex.get(link.recordIndex);
    for (const decision of consented.consentDecisions ?? []) {
      const patientId = patientIdOf(decision.patient);
      if (patientId === undefined) continue;
      consents.push({
        patientId,
        dataSharing: decision.dataSharing,
        research: decision.research,
        source: 'fhir-consent',
        recordedAt: new Date(decision.recordedAt),
        explicit: decision.explicit,
        recordedBy: decision.recordedBy ?? run.actor,
        runId: run.id,
      });
    }
    // Keyed by id: copies of a resource that names itself by content alone are one row.
    const resourceRows = new Map<string, FhirResourceRow>();
    const resourceReferences: ResourceReferenceRow[] = [];
    const resourceOrigins = new Map<string, number[]>();
    const resourceConsents = new Map<string, string[]>();
    for (const resource of consented.linkedResources ?? []) {
      const patientId = resource.patient === undefined ? null : patientIdOf(resource.patient);
      if (patientId === undefined) continue;
      const row = buildResourceRow(resource, patientId, keys);
      const gates = (resource.consentOf ?? []).map(patientIdOf);
      const consentOf = new Set([
        ...(patientId === null ? [] : [patientId]),
        ...gates.filter((id) => id !== undefined),
      ]);
      const seen = resourceOrigins.get(row.id);
      if (seen !== undefined) {
        seen.push(resource.index);
        for (const id of consentOf) resourceConsents.get(row.id)?.push(id);
        continue;
      }
      resourceOrigins.set(row.id, [resource.index]);
      resourceConsents.set(row.id, [...consentOf]);
      resourceRows.set(row.id, row);
      resourceReferences.push(...resourceReferenceRows(resource, row.id, keys));
    }
    const resources = [...resourceRows.values()];
    const revocations = (consented.refusals ?? []).map((refusal) => ({
      mrnBidx: blindIndex(indexKey, 'mrn', refusal.mrn),
      research: refusal.research,
    }));
    const pendingConsents = (consented.pendingConsents ?? []).map(
      (pending): PendingConsentRow => ({
        refBidx: Buffer.from(pending.refBidx, 'base64'),
        dataSharing: pending.dataSharing,
        research: pending.research,
        recordedAt: new Date(pending.recordedAt),
        explicit: pending.explicit,
        recordedBy: run.actor,
        runId: run.id,
      }),
    );
    const withheldReferences = (consented.withheldPatients ?? []).flatMap((withheld) =>
      withheld.referenceKeys.map((referenceKey) => ({
        refBidx: referenceIndex(indexKey, keys.namespace, referenceKey),
        patientId: withheld.patientId,
        consent: withheld.consent,
      })),
    );
    const output: TransformedPayload = {
      patients,
      consents,
      revocations,
      references,
      resources,
      resourceReferences,
      pendingConsents,
      withheldReferences,
      origins: { patients: patientOrigins, resources: resourceOrigins, resourceConsents },
    };
    return {
      output,
      // Its rows are mostly ciphertext: as bytes, not as base64 text inside JSON.
      outputEncoding: 'binary',
      counts: {
        transformed: patients.length,
        ...(run.format === 'flat' ? {} : { resourcesTransformed: resources.length }),
      },
    };
  });
}
