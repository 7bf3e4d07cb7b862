import type { AuditEntry } from '../db/repositories/auditLog.ts';
import { type ConsentStanding, findConsents, weighConsent } from '../db/repositories/consents.ts';
import type { Rejection } from '../db/repositories/rejections.ts';
import type { PipelineDependencies } from './dependencies.ts';
import { blocked, checkFhirConsent } from './fhirConsent.ts';
import { patientIdentity } from './patientIdentity.ts';
import {
  type ConsentRefusal,
  type PatientEntry,
  type PatientsPayload,
  refuseEarlierPayload,
} from './payloads.ts';
import { runStage } from './stageFrame.ts';
import type { StageResult } from './stages.ts';

/** Only an explicit `data_sharing: true` can let a record through; absent or false blocks it. */
export function hasDataSharingConsent(entry: PatientEntry): boolean {
  return entry.record.consent?.data_sharing === true;
}

/**
 * A flat record's consent. Its grant has no date of its own (it counts as decided when the run
 * arrived), so it never outranks a refusal on record: it is then `revoked`.
 */
export function flatConsent(
  entry: PatientEntry,
  onRecord: ConsentStanding | undefined,
  arrivedAt: Date,
): 'permit' | 'revoked' | 'refused' | 'absent' {
  if (entry.record.consent?.data_sharing === undefined) return 'absent';
  if (!hasDataSharingConsent(entry)) return 'refused';
  const grant = { dataSharing: true, recordedAt: arrivedAt, explicit: false };
  return weighConsent(onRecord, grant) === 'revoked' ? 'revoked' : 'permit';
}

/**
 * The consent on record of the patient each record names, by the record's position. A look-up:
 * without an index key yet, no patient is stored, so none has a decision on record.
 */
async function consentsOnRecord(
  deps: PipelineDependencies,
  entries: readonly PatientEntry[],
): Promise<Map<number, ConsentStanding>> {
  const indexKey =
    entries.length === 0 ? undefined : await deps.keyring.existingBlindIndexKey(deps.pool);
  if (indexKey === undefined) return new Map();
  const ids = new Map(
    entries.map((entry) => [entry.index, patientIdentity(indexKey, entry.record.mrn).id]),
  );
  indexKey.fill(0);
  const consents = await findConsents(deps.pool, [...new Set(ids.values())]);
  const onRecord = new Map<number, ConsentStanding>();
  for (const [index, id] of ids) {
    const consent = consents.get(id);
    if (consent !== undefined) onRecord.set(index, consent);
  }
  return onRecord;
}

/** ConsentCheck: records without data-sharing consent stop here, each one a rejection and a denial. */
export function consentCheck(deps: PipelineDependencies, runId: string): Promise<StageResult> {
  return runStage<PatientsPayload>(deps, 'consentCheck', runId, async (validated, { run }) => {
    refuseEarlierPayload(validated, ['observations']);
    if (run.format !== 'flat') return checkFhirConsent(deps, run, validated);
    const onRecord = await consentsOnRecord(deps, validated.records.filter(hasDataSharingConsent));
    const consented: PatientEntry[] = [];
    const refusals: ConsentRefusal[] = [];
    const rejections: Rejection[] = [];
    const audit: AuditEntry[] = [];
    for (const entry of validated.records) {
      const consent = flatConsent(entry, onRecord.get(entry.index), run.createdAt);
      if (consent === 'permit') {
        consented.push(entry);
        continue;
      }
      if (consent === 'refused') {
        refusals.push({
          index: entry.index,
          mrn: entry.record.mrn,
          research: entry.record.consent?.research === true,
        });
      }
      const stopped = blocked(run, entry.index, 'Patient', consent);
      rejections.push(stopped.rejection);
      audit.push(stopped.denial);
    }
    const output: PatientsPayload = { records: consented, refusals };
    return {
      output,
      rejections,
      audit,
      counts: { consented: consented.length, blocked: rejections.length },
    };
  });
}
