import { createHmac, createSecretKey } from 'node:crypto';
import { blindIndex, deterministicId } from '../crypto/blindIndex.ts';
import { encryptField, type SecretKeyMaterial } from '../crypto/fieldCipher.ts';
import type { ConsentRow } from '../db/repositories/consents.ts';
import type { IngestRun } from '../db/repositories/ingestRuns.ts';
import { OBSERVATION_COLUMNS, type ObservationRow } from '../db/repositories/observations.ts';
import type { PatientReferenceRow } from '../db/repositories/patientReferences.ts';
import { PATIENT_COLUMNS, type PatientRow } from '../db/repositories/patients.ts';
import type { PendingConsentRow } from '../db/repositories/pendingConsents.ts';
import type { PatientRecord } from '../fhir/model.ts';
import type { FhirPatientRecord } from '../fhir/r4/model.ts';
import { canonicalJson } from '../json.ts';
import type { PipelineDependencies } from './dependencies.ts';
import { patientIdentity, referenceIndex } from './patientIdentity.ts';
import type {
  LinkedObservation,
  PatientEntry,
  PatientLink,
  PatientsPayload,
  TransformedPayload,
} from './payloads.ts';
import { runStage } from './stageFrame.ts';
import type { StageResult } from './stages.ts';

const OBSERVATION_ID_PURPOSE = 'observation-id';

interface Keys {
  readonly dataKey: SecretKeyMaterial;
  readonly dataKeyId: string;
  readonly indexKey: SecretKeyMaterial;
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

/**
 * An Observation's id is derived from its patient and what names it at the source (its id,
 * else its fullUrl, else its content), so sending it again updates the same row.
 */
export function buildObservationRow(
  observation: LinkedObservation,
  patientId: string,
  keys: Keys,
): ObservationRow {
  const { record } = observation;
  const sourceKey =
    observation.sourceKey ??
    `digest:${contentDigest(keys.indexKey, 'observation-source', record.source).toString('base64')}`;
  const id = deterministicId(keys.indexKey, OBSERVATION_ID_PURPOSE, `${patientId}|${sourceKey}`);
  const seal = (column: string, value: unknown): Buffer =>
    encryptField(keys.dataKey, JSON.stringify(value), { table: 'observations', column, rowId: id });
  return {
    id,
    patientId,
    category: record.category ?? null,
    codeSystem: record.codeSystem ?? null,
    code: record.code,
    effectiveAt: record.effectiveAt === undefined ? null : new Date(record.effectiveAt),
    status: record.status,
    valueEnc: seal(OBSERVATION_COLUMNS.value, record.value),
    sourceEnc: seal(OBSERVATION_COLUMNS.source, record.source),
    recordDigest: contentDigest(keys.indexKey, 'observation-record', {
      patientId,
      source: record.source,
    }),
    dataKeyId: keys.dataKeyId,
  };
}

function consentRow(entry: PatientEntry, patientId: string, run: IngestRun): ConsentRow {
  return {
    patientId,
    dataSharing: entry.record.consent?.data_sharing === true,
    research: entry.record.consent?.research === true,
    source: 'ingest',
    recordedAt: run.createdAt,
    recordedBy: run.actor,
    runId: run.id,
  };
}

/** Transform: build the rows, PHI encrypted under the run's data key, MRN and SSN blind-indexed. */
export function transform(deps: PipelineDependencies, runId: string): Promise<StageResult> {
  return runStage<PatientsPayload>(deps, 'transform', runId, async (consented, { run, key }) => {
    const indexKey = await deps.keyring.blindIndexKeyObject(deps.pool);
    // A key object made once: thousands of fields are sealed under it.
    const keys: Keys = { dataKey: createSecretKey(key), dataKeyId: run.dataKeyId, indexKey };
    const patients: PatientRow[] = [];
    const consents: ConsentRow[] = [];
    const references: PatientReferenceRow[] = [];
    const idByIndex = new Map<number, string>();
    for (const entry of consented.records) {
      const row = buildPatientRow(entry.record, keys);
      idByIndex.set(entry.index, row.id);
      patients.push(row);
      for (const referenceKey of entry.referenceKeys ?? []) {
        references.push({ refBidx: referenceIndex(indexKey, referenceKey), patientId: row.id });
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
        recordedBy: decision.recordedBy ?? run.actor,
        runId: run.id,
      });
    }
    // Keyed by id: copies of an Observation that names itself by content alone are one row.
    const observationRows = new Map<string, ObservationRow>();
    for (const observation of consented.linkedObservations ?? []) {
      const patientId = patientIdOf(observation.patient);
      if (patientId === undefined) continue;
      const row = buildObservationRow(observation, patientId, keys);
      if (!observationRows.has(row.id)) observationRows.set(row.id, row);
    }
    const observations = [...observationRows.values()];
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
        recordedBy: run.actor,
        runId: run.id,
      }),
    );
    const output: TransformedPayload = {
      patients,
      consents,
      revocations,
      references,
      observations,
      pendingConsents,
    };
    return {
      output,
      // Its rows are mostly ciphertext: as bytes, not as base64 text inside JSON.
      outputEncoding: 'binary',
      counts: {
        transformed: patients.length,
        ...(run.format === 'flat' ? {} : { observationsTransformed: observations.length }),
      },
    };
  });
}
