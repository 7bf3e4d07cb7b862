import type { AuditMac } from '../crypto/auditMac.ts';
import { blindIndex } from '../crypto/blindIndex.ts';
import { decryptFieldText } from '../crypto/fieldCipher.ts';
import { type TransactionClient, withTransaction } from '../db/pool.ts';
import { type AuditEntry, appendAudit } from '../db/repositories/auditLog.ts';
import { type ConsentRow, findConsent, lockConsent } from '../db/repositories/consents.ts';
import {
  findPatientById,
  findPatientByMrnIndex,
  PATIENT_COLUMNS,
  type StoredPatient,
} from '../db/repositories/patients.ts';
import { ForbiddenError, InputValidationError, NotFoundError } from '../errors.ts';
import { MRN_PATTERN } from '../fhir/flatSchema.ts';
import { isUuid } from '../ids.ts';
import type { PipelineDependencies } from '../pipeline/dependencies.ts';

/** A patient as an authorised reader sees it: decrypted, with the consent that allowed the read. */
export interface PatientView {
  readonly id: string;
  readonly mrn: string;
  readonly name: string | null;
  readonly birthDate: string | null;
  readonly gender: string | null;
  readonly ssn: string | null;
  readonly consent: {
    readonly dataSharing: boolean;
    readonly research: boolean;
    readonly recordedAt: string;
  };
}

const MRN = new RegExp(MRN_PATTERN);

/**
 * Who reads: the audit's actor and, for a token with a SMART launch context (its `patient`
 * claim), the one patient it is confined to: any other patient, their data, and shared
 * resources read directly answer as not found. A bare string is an actor without one.
 */
export interface Reader {
  readonly subject: string;
  readonly patient?: string | undefined;
}

function readerOf(reader: Reader | string): Reader {
  return typeof reader === 'string' ? { subject: reader } : reader;
}

/** The reason of the DENY row of a read outside the reader's launch context. */
export const OUTSIDE_LAUNCH_CONTEXT = 'launch-context';

/** The audit rows as `reader` reads: a launch context's patient is named in every row's details. */
export function auditedFor(reader: Reader, entries: readonly AuditEntry[]): AuditEntry[] {
  const { patient } = reader;
  return patient === undefined
    ? [...entries]
    : entries.map((entry) => ({ ...entry, details: { ...entry.details, launchPatient: patient } }));
}

/** The audit row of a read of (or a refusal to read) one patient. */
export function patientAudit(
  actor: string,
  patientId: string | null,
  outcome: AuditEntry['outcome'],
  details: Record<string, unknown>,
): AuditEntry {
  return {
    actor,
    action: outcome === 'denied' ? 'DENY' : 'READ',
    resourceType: 'Patient',
    resourceId: patientId,
    runId: null,
    outcome,
    details,
  };
}

/** The patient's PHI columns, decrypted under the row's data key. */
function decryptPatientColumns(key: Buffer, patient: StoredPatient): Omit<PatientView, 'consent'> {
  const open = (column: string, value: Buffer | null) =>
    value === null
      ? null
      : decryptFieldText(key, value, { table: 'patients', column, rowId: patient.id });
  return {
    id: patient.id,
    mrn: decryptFieldText(key, patient.mrnEnc, {
      table: 'patients',
      column: PATIENT_COLUMNS.mrn,
      rowId: patient.id,
    }),
    name: open(PATIENT_COLUMNS.name, patient.nameEnc),
    birthDate: open(PATIENT_COLUMNS.birthDate, patient.birthDateEnc),
    gender: patient.gender,
    ssn: open(PATIENT_COLUMNS.ssn, patient.ssnEnc),
  };
}

function decrypt(key: Buffer, patient: StoredPatient, consent: ConsentRow): PatientView {
  return {
    ...decryptPatientColumns(key, patient),
    consent: {
      dataSharing: consent.dataSharing,
      research: consent.research,
      recordedAt: consent.recordedAt.toISOString(),
    },
  };
}

/** What a consented read discloses, and the audit rows that record exactly that. */
export interface Disclosure<T> {
  readonly value: T;
  readonly audit: readonly AuditEntry[];
}

/** One kind of read of a patient's data: how it is named in the audit, and what it discloses. */
export interface PatientRead<T> {
  /** `details.via` of its audit rows: `id`, `mrn`, `fhir-read`, `fhir-search`. */
  readonly via: string;
  /** The 404's message when the patient, or what is read of them, is not there for the reader. */
  readonly notFound?: string;
  /** Runs only with data-sharing consent, inside the transaction that holds the consent lock. */
  readonly reveal: (
    client: TransactionClient,
    patient: StoredPatient,
    consent: ConsentRow,
  ) => Promise<Disclosure<T>>;
}

/**
 * The consent gate of every read: discloses only with data-sharing consent, and writes the
 * audit rows (the read's own, or one DENY) in the same transaction, so no read goes unrecorded.
 */
async function disclose<T>(
  client: TransactionClient,
  mac: AuditMac,
  reader: Reader,
  patient: StoredPatient,
  read: PatientRead<T>,
): Promise<T> {
  // FOR SHARE: a consent revocation committing meanwhile waits for this read, or this read sees it.
  await lockConsent(client, patient.id);
  const consent = await findConsent(client, patient.id);
  if (consent?.dataSharing !== true) {
    await appendAudit(
      client,
      mac,
      auditedFor(reader, [
        patientAudit(reader.subject, patient.id, 'denied', { reason: 'consent', via: read.via }),
      ]),
    );
    throw new ForbiddenError('the patient has not consented to data sharing');
  }
  const { value, audit } = await read.reveal(client, patient, consent);
  await appendAudit(client, mac, auditedFor(reader, audit));
  return value;
}

/** A denied read must be recorded even though the request fails: its own transaction. */
async function auditMiss(
  deps: PipelineDependencies,
  reader: Reader,
  entry: AuditEntry,
): Promise<void> {
  await appendAudit(deps.pool, deps.auditMac, auditedFor(reader, [entry]));
}

/** The v1 read: the decrypted columns and the consent that allowed them, one READ row. */
function patientView(
  deps: PipelineDependencies,
  actor: string,
  via: string,
): PatientRead<PatientView> {
  return {
    via,
    reveal: async (client, patient, consent) => {
      const key = await deps.keyring.rowKey(client, patient.dataKeyId);
      try {
        return {
          value: decrypt(key, patient, consent),
          audit: [patientAudit(actor, patient.id, 'success', { via })],
        };
      } finally {
        key.fill(0);
      }
    },
  };
}

/**
 * Reads one patient by id through the consent gate: 404 for an id that is not ours (audited
 * as a failure), 403 without consent (audited as DENY, committed), else what `read` discloses.
 * A reader confined to a launch patient gets the same 404 for any other patient (a DENY row,
 * reason launch-context) and for its own patient without consent (the consent DENY row).
 */
export async function readPatientWith<T>(
  deps: PipelineDependencies,
  readerOrActor: Reader | string,
  id: string,
  read: PatientRead<T>,
): Promise<T> {
  const reader = readerOf(readerOrActor);
  const notFound = { reason: 'not-found', via: read.via };
  const missing = () => new NotFoundError(read.notFound ?? 'no such patient');
  if (!isUuid(id)) {
    await auditMiss(deps, reader, patientAudit(reader.subject, null, 'failure', notFound));
    throw missing();
  }
  const patientId = id.toLowerCase();
  if (reader.patient !== undefined && patientId !== reader.patient) {
    await auditMiss(
      deps,
      reader,
      patientAudit(reader.subject, patientId, 'denied', {
        reason: OUTSIDE_LAUNCH_CONTEXT,
        via: read.via,
      }),
    );
    throw missing();
  }
  const outcome = await withTransaction(deps.pool, async (client) => {
    const patient = await findPatientById(client, id);
    if (patient === undefined) return undefined;
    try {
      return { value: await disclose(client, deps.auditMac, reader, patient, read) };
    } catch (error) {
      if (error instanceof ForbiddenError) return { denied: error };
      throw error;
    }
  });
  if (outcome === undefined) {
    await auditMiss(deps, reader, patientAudit(reader.subject, patientId, 'failure', notFound));
    throw missing();
  }
  // A launch context's own patient who refused: nothing to read, as if not on file.
  if ('denied' in outcome) throw reader.patient === undefined ? outcome.denied : missing();
  return outcome.value;
}

export async function readPatient(
  deps: PipelineDependencies,
  reader: Reader | string,
  id: string,
): Promise<PatientView> {
  const { subject } = readerOf(reader);
  return readPatientWith(deps, reader, id, patientView(deps, subject, 'id'));
}

/**
 * The patients on file under the MRN whose consent allows data sharing (one at most), and for
 * a reader with a launch context only its own patient. "Not on file", "refused" and "another
 * patient" all answer an empty list (being registered can itself be sensitive), each audited:
 * a READ row with no matches, or a DENY row (reason consent, or launch-context).
 */
export async function findPatientsByMrn(
  deps: PipelineDependencies,
  readerOrActor: Reader | string,
  mrn: string,
): Promise<PatientView[]> {
  const reader = readerOf(readerOrActor);
  if (mrn.length > 64 || !MRN.test(mrn)) {
    throw new InputValidationError('mrn is not a valid medical record number', [
      { path: '/mrn', keyword: 'pattern', message: 'must be 1 to 64 printable characters' },
    ]);
  }
  const outcome = await withTransaction(deps.pool, async (client) => {
    const indexKey = await deps.keyring.existingBlindIndexKey(client);
    if (indexKey === undefined) return { views: [] };
    const mrnBidx = blindIndex(indexKey, 'mrn', mrn);
    indexKey.fill(0);
    const patient = await findPatientByMrnIndex(client, mrnBidx);
    if (patient === undefined) return { views: [] };
    if (reader.patient !== undefined && patient.id !== reader.patient) {
      await appendAudit(
        client,
        deps.auditMac,
        auditedFor(reader, [
          patientAudit(reader.subject, patient.id, 'denied', {
            reason: OUTSIDE_LAUNCH_CONTEXT,
            via: 'mrn',
          }),
        ]),
      );
      return { views: [], denied: true };
    }
    const read = patientView(deps, reader.subject, 'mrn');
    try {
      return { views: [await disclose(client, deps.auditMac, reader, patient, read)] };
    } catch (error) {
      // The DENY row is written and commits with this transaction; the answer is "no match".
      if (error instanceof ForbiddenError) return { views: [], denied: true };
      throw error;
    }
  });
  if (outcome.views.length === 0 && !('denied' in outcome)) {
    await auditMiss(
      deps,
      reader,
      patientAudit(reader.subject, null, 'success', { via: 'mrn', matches: 0 }),
    );
  }
  return outcome.views;
}
