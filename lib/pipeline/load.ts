import type { AuditEntry } from '../db/repositories/auditLog.ts';
import { appendAudit } from '../db/repositories/auditLog.ts';
import { revokeConsentsByMrnIndex, upsertConsents } from '../db/repositories/consents.ts';
import { upsertObservations } from '../db/repositories/observations.ts';
import { upsertPatientReferences } from '../db/repositories/patientReferences.ts';
import { upsertPatients } from '../db/repositories/patients.ts';
import {
  deletePendingConsents,
  type PendingConsentRow,
  upsertPendingConsents,
} from '../db/repositories/pendingConsents.ts';
import { StageInputError } from '../errors.ts';
import type { PipelineDependencies } from './dependencies.ts';
import type { TransformedPayload } from './payloads.ts';
import { runStage } from './stageFrame.ts';
import type { StageResult } from './stages.ts';

/** One audit row per written id; `patientOf` names an Observation's patient, for the patient's trail. */
function audited(
  actor: string,
  runId: string,
  resourceType: string,
  action: 'CREATE' | 'UPDATE',
  ids: readonly string[],
  patientOf?: (id: string) => string | null,
): AuditEntry[] {
  return ids.map((id) => ({
    actor,
    action,
    resourceType,
    resourceId: id,
    runId,
    outcome: 'success',
    details:
      patientOf === undefined ? { stage: 'load' } : { stage: 'load', patientId: patientOf(id) },
  }));
}

/**
 * The pending consents of a `transformed` payload, refused unless their blind indexes are bytes
 * and their times are dates, as Transform builds them. A payload sealed by a version that wrote
 * them as text must fail the run: stored as text, a waiting refusal would never be matched.
 */
export function pendingConsentRowsOf(
  transformed: TransformedPayload,
): readonly PendingConsentRow[] {
  const rows = transformed.pendingConsents ?? [];
  for (const row of rows as readonly unknown[]) {
    const { refBidx, recordedAt } = row as Partial<Record<keyof PendingConsentRow, unknown>>;
    if (!Buffer.isBuffer(refBidx) || !(recordedAt instanceof Date)) {
      throw new StageInputError(
        'The transformed payload holds pending consents in a form this version does not read; submit the batch again',
      );
    }
  }
  return rows;
}

/**
 * Load: one transaction upserts patients, the references they are known by, consents and
 * observations, audits each change, and ends the run.
 */
export function load(deps: PipelineDependencies, runId: string): Promise<StageResult> {
  return runStage<TransformedPayload>(deps, 'load', runId, async (transformed) => ({
    counts: {},
    completesRun: true,
    commit: async (client, run) => {
      const patients = await upsertPatients(client, runId, transformed.patients);
      const references = transformed.references ?? [];
      await upsertPatientReferences(client, runId, references);
      // Stored now: their waiting decisions were applied by ConsentCheck and live in `consents`.
      await deletePendingConsents(
        client,
        references.map((reference) => reference.refBidx),
      );
      const pending = await upsertPendingConsents(client, pendingConsentRowsOf(transformed));
      const consents = await upsertConsents(client, transformed.consents);
      const observationRows = transformed.observations ?? [];
      const observations = await upsertObservations(client, runId, observationRows);
      const patientIds = new Map(observationRows.map((row) => [row.id, row.patientId]));
      const patientOf = (id: string) => patientIds.get(id) ?? null;
      const revoked = await revokeConsentsByMrnIndex(client, transformed.revocations ?? [], {
        recordedAt: run.createdAt,
        recordedBy: run.actor,
        runId,
      });
      await appendAudit(client, [
        ...audited(run.actor, runId, 'Patient', 'CREATE', patients.created),
        ...audited(run.actor, runId, 'Patient', 'UPDATE', patients.updated),
        ...audited(run.actor, runId, 'Consent', 'CREATE', consents.created),
        ...audited(run.actor, runId, 'Consent', 'UPDATE', consents.updated),
        ...audited(run.actor, runId, 'Consent', 'UPDATE', revoked),
        ...audited(run.actor, runId, 'Observation', 'CREATE', observations.created, patientOf),
        ...audited(run.actor, runId, 'Observation', 'UPDATE', observations.updated, patientOf),
      ]);
      const observationCounts =
        run.format === 'flat'
          ? {}
          : {
              observationsCreated: observations.created.length,
              observationsUpdated: observations.updated.length,
              observationsUnchanged: observations.unchanged.length,
              observationsLoaded:
                observations.created.length +
                observations.updated.length +
                observations.unchanged.length,
              consentsRecorded: consents.created.length + consents.updated.length,
              consentsPendingRecorded: pending,
            };
      return {
        created: patients.created.length,
        updated: patients.updated.length,
        unchanged: patients.unchanged.length,
        revoked: revoked.length,
        loaded: patients.created.length + patients.updated.length + patients.unchanged.length,
        ...observationCounts,
      };
    },
  }));
}
