import { createHmac, createSecretKey } from 'node:crypto';
import { blindIndex, deterministicId } from '../crypto/blindIndex.ts';
import { encryptField, type SecretKeyMaterial } from '../crypto/fieldCipher.ts';
import type { ConsentRevocation, ConsentRow } from '../db/repositories/consents.ts';
import type { IngestRun } from '../db/repositories/ingestRuns.ts';
import type { ObservationRow } from '../db/repositories/observations.ts';
import type { PatientReferenceRow } from '../db/repositories/patientReferences.ts';
import type { PatientRow } from '../db/repositories/patients.ts';
import type { PendingConsentRow } from '../db/repositories/pendingConsents.ts';
import { InternalError } from '../errors.ts';
import type { PatientRecord } from '../fhir/model.ts';
import type { FhirPatientRecord } from '../fhir/r4/model.ts';
import { canonicalJson } from '../json.ts';
import type { PipelineDependencies } from './dependencies.ts';
import type { LinkedObservation, PatientLink } from './fhirConsent.ts';
import { patientIdentity, referenceIndex } from './patientIdentity.ts';
import { runStage } from './stageFrame.ts';
import type { StageResult } from './stages.ts';
import type { PatientEntry, PatientsPayload } from './validate.ts';

const OBSERVATION_ID_PURPOSE = 'observation-id';

export const PATIENT_COLUMNS = {
  mrn: 'mrn_enc',
  name: 'name_enc',
  birthDate: 'birth_date_enc',
  ssn: 'ssn_enc',
  address: 'address_enc',
  telecom: 'telecom_enc',
  source: 'source_enc',
} as const;

export const OBSERVATION_COLUMNS = { value: 'value_enc', source: 'source_enc' } as const;

/**
 * A row as a JSON payload carried it: every Buffer as base64, every Date as ISO 8601.
 * Transform seals its rows in the binary encoding, with Buffers and Dates as they are; Load also
 * reads rows in this form: from payloads sealed as JSON before that, and as passed through.
 */
type Wire<T> = {
  readonly [K in keyof T]: T[K] extends Buffer
    ? string
    : T[K] extends Buffer | null
      ? string | null
      : T[K] extends Date
        ? string
        : T[K] extends Date | null
          ? string | null
          : T[K];
};

/** A row in Transform's payload: as built, or in its JSON form. */
export type PayloadRow<T> = T | Wire<T>;

/** A refusal for a patient who may already be stored, by the MRN's blind index. */
type Revocation = PayloadRow<ConsentRevocation>;

export interface TransformedPayload {
  readonly patients: readonly PayloadRow<PatientRow>[];
  readonly consents: readonly PayloadRow<ConsentRow>[];
  /** Refusals by MRN blind index, for patients who may already be stored. */
  readonly revocations?: readonly Revocation[];
  /** FHIR only: the `Patient/<id>` references each loaded patient is known by. */
  readonly references?: readonly PayloadRow<PatientReferenceRow>[];
  /** FHIR only. */
  readonly observations?: readonly PayloadRow<ObservationRow>[];
  /** FHIR only: Consent decisions waiting for their patient, as ConsentCheck passed them on. */
  readonly pendingConsents?: readonly PayloadRow<PendingConsentRow>[];
}

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
  const seal = (column: string, value: string | undefined): Buffer | null =>
    value === undefined
      ? null
      : encryptField(keys.dataKey, value, { table: 'patients', column, rowId: id });
  const fhir = isFhirPatient(record) ? record : undefined;
  // The consent object is not the patient's data: it lives in `consents`, with its history.
  const { consent: _consent, ...content } = record;
  return {
    id,
    mrnBidx,
    ssnBidx: record.ssn === undefined ? null : blindIndex(keys.indexKey, 'ssn', record.ssn),
    mrnEnc: encryptField(keys.dataKey, record.mrn, {
      table: 'patients',
      column: PATIENT_COLUMNS.mrn,
      rowId: id,
    }),
    nameEnc: seal(PATIENT_COLUMNS.name, record.name),
    birthDateEnc: seal(PATIENT_COLUMNS.birthDate, record.birthDate),
    ssnEnc: seal(PATIENT_COLUMNS.ssn, record.ssn),
    addressEnc: seal(PATIENT_COLUMNS.address, asJson(fhir?.address)),
    telecomEnc: seal(PATIENT_COLUMNS.telecom, asJson(fhir?.telecom)),
    // A FHIR Patient is kept whole, as received, so nothing it carried is lost.
    sourceEnc: seal(PATIENT_COLUMNS.source, JSON.stringify(fhir?.source ?? record)),
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

/** A payload value of the wrong kind: a fault in the pipeline, never written as NULL. */
function unexpected(column: string, value: unknown): InternalError {
  return new InternalError(`transformed payload: ${column} holds a value of type ${typeof value}`);
}

/** A bytes column of a payload row: base64 from a JSON payload, or bytes as they are. */
function payloadBytes(column: string, value: unknown): Buffer | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return Buffer.from(value, 'base64');
  if (Buffer.isBuffer(value)) return value;
  throw unexpected(column, value);
}

/** A time column of a payload row: ISO 8601 from a JSON payload, or a Date as it is. */
function payloadDate(column: string, value: unknown): Date | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return new Date(value);
  if (value instanceof Date) return value;
  throw unexpected(column, value);
}

/**
 * A payload row as the repositories take it: the named columns' base64 and ISO 8601 strings,
 * in rows a JSON payload carried, become Buffers and Dates again; values already of that kind
 * stay as they are, and a value of any other kind is refused rather than stored as NULL.
 */
function fromWire<T extends object>(
  wire: PayloadRow<T>,
  columns: { readonly bytes?: readonly (keyof T)[]; readonly dates?: readonly (keyof T)[] },
): T {
  const row: Record<string, unknown> = { ...(wire as object) };
  for (const name of columns.bytes ?? []) {
    row[name as string] = payloadBytes(name as string, row[name as string]);
  }
  for (const name of columns.dates ?? []) {
    row[name as string] = payloadDate(name as string, row[name as string]);
  }
  return row as T;
}

/** A refusal as Load applies it; its blind index crossed as bytes, or as base64 before. */
export function revocationFromWire(revocation: Revocation): ConsentRevocation {
  const mrnBidx = payloadBytes('mrnBidx', revocation.mrnBidx);
  if (mrnBidx === null) throw new InternalError('transformed payload: a refusal has no mrnBidx');
  return { mrnBidx, research: revocation.research };
}

export function patientRowFromWire(row: PayloadRow<PatientRow>): PatientRow {
  return fromWire<PatientRow>(row, {
    bytes: [
      'mrnBidx',
      'ssnBidx',
      'mrnEnc',
      'nameEnc',
      'birthDateEnc',
      'ssnEnc',
      'addressEnc',
      'telecomEnc',
      'sourceEnc',
      'recordDigest',
    ],
  });
}

export function consentRowFromWire(row: PayloadRow<ConsentRow>): ConsentRow {
  return fromWire<ConsentRow>(row, { dates: ['recordedAt'] });
}

export function observationRowFromWire(row: PayloadRow<ObservationRow>): ObservationRow {
  return fromWire<ObservationRow>(row, {
    bytes: ['valueEnc', 'sourceEnc', 'recordDigest'],
    dates: ['effectiveAt'],
  });
}

export function pendingConsentRowFromWire(row: PayloadRow<PendingConsentRow>): PendingConsentRow {
  return fromWire<PendingConsentRow>(row, { bytes: ['refBidx'], dates: ['recordedAt'] });
}

export function referenceRowFromWire(row: PayloadRow<PatientReferenceRow>): PatientReferenceRow {
  return fromWire<PatientReferenceRow>(row, { bytes: ['refBidx'] });
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
      (pending): PayloadRow<PendingConsentRow> => ({
        ...pending,
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
