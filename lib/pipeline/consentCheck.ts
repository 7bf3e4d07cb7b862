import type { AuditEntry } from '../db/repositories/auditLog.ts';
import type { Rejection } from '../db/repositories/rejections.ts';
import type { PipelineDependencies } from './dependencies.ts';
import { blocked, checkFhirConsent } from './fhirConsent.ts';
import {
  type ConsentRefusal,
  type PatientEntry,
  type PatientsPayload,
  refuseEarlierPayload,
} from './payloads.ts';
import { runStage } from './stageFrame.ts';
import type { StageResult } from './stages.ts';

/** Only an explicit `data_sharing: true` lets a record through; absent or false blocks it. */
export function hasDataSharingConsent(entry: PatientEntry): boolean {
  return entry.record.consent?.data_sharing === true;
}

/** ConsentCheck: records without data-sharing consent stop here, each one a rejection and a denial. */
export function consentCheck(deps: PipelineDependencies, runId: string): Promise<StageResult> {
  return runStage<PatientsPayload>(deps, 'consentCheck', runId, async (validated, { run }) => {
    refuseEarlierPayload(validated, ['observations']);
    if (run.format !== 'flat') return checkFhirConsent(deps, run, validated);
    const consented: PatientEntry[] = [];
    const refusals: ConsentRefusal[] = [];
    const rejections: Rejection[] = [];
    const audit: AuditEntry[] = [];
    for (const entry of validated.records) {
      if (hasDataSharingConsent(entry)) {
        consented.push(entry);
        continue;
      }
      const consent = entry.record.consent?.data_sharing === undefined ? 'absent' : 'refused';
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
