import { createHmac } from 'node:crypto';
import { blindIndex, deterministicId } from '../crypto/blindIndex.ts';
import { encryptField } from '../crypto/fieldCipher.ts';
import type { ConsentRow } from '../db/repositories/consents.ts';
import type { IngestRun } from '../db/repositories/ingestRuns.ts';
import type { PatientRow } from '../db/repositories/patients.ts';
import type { PatientRecord } from '../fhir/model.ts';
import type { PipelineDependencies } from './dependencies.ts';
import { runStage } from './stageFrame.ts';
import type { StageResult } from './stages.ts';
import type { PatientEntry, PatientsPayload } from './validate.ts';

/** The patient id is derived from the MRN's blind index: stable across runs, revealing nothing. */
const PATIENT_ID_PURPOSE = 'patient-id';

export const PATIENT_COLUMNS = {
  mrn: 'mrn_enc',
  name: 'name_enc',
  birthDate: 'birth_date_enc',
  ssn: 'ssn_enc',
  address: 'address_enc',
  telecom: 'telecom_enc',
  source: 'source_enc',
} as const;

/** Rows as they cross the claim check: every Buffer as base64. */
type Wire<T> = {
  readonly [K in keyof T]: T[K] extends Buffer
    ? string
    : T[K] extends Buffer | null
      ? string | null
      : T[K];
};

export interface TransformedPayload {
  readonly patients: readonly Wire<PatientRow>[];
  readonly consents: readonly Wire<Omit<ConsentRow, 'recordedAt'> & { recordedAt: string }>[];
  /** Refusals by MRN blind index, for patients who may already be stored. */
  readonly revocations?: readonly { readonly mrnBidx: string; readonly research: boolean }[];
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A keyed digest of the record's content (consent aside): equal content, equal digest. */
function recordDigest(indexKey: Buffer, record: PatientRecord): Buffer {
  const { consent: _consent, ...content } = record;
  return createHmac('sha256', indexKey)
    .update('patient-record:')
    .update(canonicalJson(content))
    .digest();
}

export function buildPatientRow(
  record: PatientRecord,
  keys: { readonly dataKey: Buffer; readonly dataKeyId: string; readonly indexKey: Buffer },
): PatientRow {
  const mrnBidx = blindIndex(keys.indexKey, 'mrn', record.mrn);
  const id = deterministicId(keys.indexKey, PATIENT_ID_PURPOSE, mrnBidx);
  const seal = (column: string, value: string | undefined): Buffer | null =>
    value === undefined
      ? null
      : encryptField(keys.dataKey, value, { table: 'patients', column, rowId: id });
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
    addressEnc: null,
    telecomEnc: null,
    sourceEnc: seal(PATIENT_COLUMNS.source, JSON.stringify(record)),
    gender: record.gender ?? null,
    recordDigest: recordDigest(keys.indexKey, record),
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

const b64 = (buffer: Buffer | null): string | null =>
  buffer === null ? null : buffer.toString('base64');

function toWire(row: PatientRow): Wire<PatientRow> {
  return {
    ...row,
    mrnBidx: row.mrnBidx.toString('base64'),
    ssnBidx: b64(row.ssnBidx),
    mrnEnc: row.mrnEnc.toString('base64'),
    nameEnc: b64(row.nameEnc),
    birthDateEnc: b64(row.birthDateEnc),
    ssnEnc: b64(row.ssnEnc),
    addressEnc: b64(row.addressEnc),
    telecomEnc: b64(row.telecomEnc),
    sourceEnc: b64(row.sourceEnc),
    recordDigest: row.recordDigest.toString('base64'),
  };
}

const buf = (value: string | null): Buffer | null =>
  value === null ? null : Buffer.from(value, 'base64');

export function patientRowFromWire(row: Wire<PatientRow>): PatientRow {
  return {
    ...row,
    mrnBidx: Buffer.from(row.mrnBidx, 'base64'),
    ssnBidx: buf(row.ssnBidx),
    mrnEnc: Buffer.from(row.mrnEnc, 'base64'),
    nameEnc: buf(row.nameEnc),
    birthDateEnc: buf(row.birthDateEnc),
    ssnEnc: buf(row.ssnEnc),
    addressEnc: buf(row.addressEnc),
    telecomEnc: buf(row.telecomEnc),
    sourceEnc: buf(row.sourceEnc),
    recordDigest: Buffer.from(row.recordDigest, 'base64'),
  };
}

export function consentRowFromWire(row: TransformedPayload['consents'][number]): ConsentRow {
  return { ...row, recordedAt: new Date(row.recordedAt) };
}

/** Transform: build the rows, PHI encrypted under the run's data key, MRN and SSN blind-indexed. */
export function transform(deps: PipelineDependencies, runId: string): Promise<StageResult> {
  return runStage<PatientsPayload>(deps, 'transform', runId, async (consented, { run, key }) => {
    const indexKey = await deps.keyring.blindIndexKey(deps.pool);
    try {
      const keys = { dataKey: key, dataKeyId: run.dataKeyId, indexKey };
      const patients: Wire<PatientRow>[] = [];
      const consents: TransformedPayload['consents'][number][] = [];
      for (const entry of consented.records) {
        const row = buildPatientRow(entry.record, keys);
        patients.push(toWire(row));
        const consent = consentRow(entry, row.id, run);
        consents.push({ ...consent, recordedAt: consent.recordedAt.toISOString() });
      }
      const revocations = (consented.refusals ?? []).map((refusal) => ({
        mrnBidx: blindIndex(indexKey, 'mrn', refusal.mrn).toString('base64'),
        research: refusal.research,
      }));
      const output: TransformedPayload = { patients, consents, revocations };
      return { output, counts: { transformed: patients.length } };
    } finally {
      indexKey.fill(0);
    }
  });
}
