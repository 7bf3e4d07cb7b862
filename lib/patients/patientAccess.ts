import { blindIndex } from '../crypto/blindIndex.ts';
import { decryptFieldText } from '../crypto/fieldCipher.ts';
import { type TransactionClient, withTransaction } from '../db/pool.ts';
import { type AuditEntry, appendAudit } from '../db/repositories/auditLog.ts';
import { type ConsentRow, findConsent } from '../db/repositories/consents.ts';
import {
  findPatientById,
  findPatientByMrnIndex,
  type StoredPatient,
} from '../db/repositories/patients.ts';
import { ForbiddenError, InputValidationError, NotFoundError } from '../errors.ts';
import { MRN_PATTERN } from '../fhir/flatSchema.ts';
import { isUuid } from '../ids.ts';
import type { PipelineDependencies } from '../pipeline/dependencies.ts';
import { PATIENT_COLUMNS } from '../pipeline/transform.ts';

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

function audit(
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

function decrypt(key: Buffer, patient: StoredPatient, consent: ConsentRow): PatientView {
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
    consent: {
      dataSharing: consent.dataSharing,
      research: consent.research,
      recordedAt: consent.recordedAt.toISOString(),
    },
  };
}

/**
 * The consent gate of every read: decrypts only with data-sharing consent, and writes the
 * audit row (READ or DENY) in the same transaction, so no read goes unrecorded.
 */
async function disclose(
  deps: PipelineDependencies,
  client: TransactionClient,
  actor: string,
  patient: StoredPatient,
  via: string,
): Promise<PatientView> {
  // FOR SHARE: a consent revocation committing meanwhile waits for this read, or this read sees it.
  await client.query('SELECT 1 FROM consents WHERE patient_id = $1 FOR SHARE', [patient.id]);
  const consent = await findConsent(client, patient.id);
  if (consent?.dataSharing !== true) {
    await appendAudit(client, [audit(actor, patient.id, 'denied', { reason: 'consent', via })]);
    throw new ForbiddenError('the patient has not consented to data sharing');
  }
  const key = await deps.keyring.rowKey(client, patient.dataKeyId);
  try {
    const view = decrypt(key, patient, consent);
    await appendAudit(client, [audit(actor, patient.id, 'success', { via })]);
    return view;
  } finally {
    key.fill(0);
  }
}

/** A denied read must be recorded even though the request fails: its own transaction. */
async function auditMiss(deps: PipelineDependencies, entry: AuditEntry): Promise<void> {
  await appendAudit(deps.pool, [entry]);
}

export async function readPatient(
  deps: PipelineDependencies,
  actor: string,
  id: string,
): Promise<PatientView> {
  if (!isUuid(id)) {
    await auditMiss(deps, audit(actor, null, 'failure', { reason: 'not-found', via: 'id' }));
    throw new NotFoundError('no such patient');
  }
  const outcome = await withTransaction(deps.pool, async (client) => {
    const patient = await findPatientById(client, id);
    if (patient === undefined) return undefined;
    try {
      return { view: await disclose(deps, client, actor, patient, 'id') };
    } catch (error) {
      if (error instanceof ForbiddenError) return { denied: error };
      throw error;
    }
  });
  if (outcome === undefined) {
    await auditMiss(
      deps,
      audit(actor, id.toLowerCase(), 'failure', { reason: 'not-found', via: 'id' }),
    );
    throw new NotFoundError('no such patient');
  }
  if ('denied' in outcome) throw outcome.denied;
  return outcome.view;
}

export async function findPatientsByMrn(
  deps: PipelineDependencies,
  actor: string,
  mrn: string,
): Promise<PatientView[]> {
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
    try {
      return { views: [await disclose(deps, client, actor, patient, 'mrn')] };
    } catch (error) {
      if (error instanceof ForbiddenError) return { denied: error };
      throw error;
    }
  });
  if ('denied' in outcome) throw outcome.denied;
  if (outcome.views.length === 0) {
    await auditMiss(deps, audit(actor, null, 'success', { via: 'mrn', matches: 0 }));
  }
  return outcome.views;
}
