import type { AuditEntry } from '../db/repositories/auditLog.ts';
import { appendAudit } from '../db/repositories/auditLog.ts';
import { revokeConsentsByMrnIndex, upsertConsents } from '../db/repositories/consents.ts';
import {
  type FhirResourceRow,
  upsertFhirResources,
  upsertResourceReferences,
} from '../db/repositories/fhirResources.ts';
import { upsertPatientReferences } from '../db/repositories/patientReferences.ts';
import { upsertPatients } from '../db/repositories/patients.ts';
import {
  deletePendingConsents,
  type PendingConsentRow,
  upsertPendingConsents,
} from '../db/repositories/pendingConsents.ts';
import {
  deleteWithheldReferences,
  upsertWithheldReferences,
} from '../db/repositories/withheldPatients.ts';
import { StageInputError } from '../errors.ts';
import type { PipelineDependencies } from './dependencies.ts';
import { refuseEarlierPayload, type TransformedPayload } from './payloads.ts';
import { runStage } from './stageFrame.ts';
import type { RunCounts, StageResult } from './stages.ts';

/** One audit row per written id of a Patient or a Consent. */
function audited(
  actor: string,
  runId: string,
  resourceType: string,
  action: 'CREATE' | 'UPDATE',
  ids: readonly string[],
): AuditEntry[] {
  return ids.map((id) => ({
    actor,
    action,
    resourceType,
    resourceId: id,
    runId,
    outcome: 'success',
    details: { stage: 'load' },
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

/** What the upsert did with each type's resources: `<Type>.created`, `.updated`, `.unchanged`. */
function countsByType(
  rows: readonly FhirResourceRow[],
  outcome: Awaited<ReturnType<typeof upsertFhirResources>>,
): RunCounts {
  const typeOf = new Map(rows.map((row) => [row.id, row.resourceType]));
  const counts: Record<string, number> = {};
  for (const [name, ids] of Object.entries(outcome)) {
    for (const id of ids as readonly string[]) {
      const key = `${typeOf.get(id) ?? 'unknown'}.${name}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
  }
  return counts;
}

/**
 * Load: one transaction upserts patients, the references they are known by, consents and every
 * other resource, audits each change, and ends the run.
 */
export function load(deps: PipelineDependencies, runId: string): Promise<StageResult> {
  return runStage<TransformedPayload>(deps, 'load', runId, async (transformed) => {
    refuseEarlierPayload(transformed, ['observations']);
    return {
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
        await deleteWithheldReferences(
          client,
          references.map((reference) => reference.refBidx),
        );
        await upsertWithheldReferences(client, runId, transformed.withheldReferences ?? []);
        const pending = await upsertPendingConsents(client, pendingConsentRowsOf(transformed));
        const consents = await upsertConsents(client, transformed.consents);
        const resourceRows = transformed.resources ?? [];
        const resources = await upsertFhirResources(client, runId, resourceRows);
        await upsertResourceReferences(client, runId, transformed.resourceReferences ?? []);
        const rowById = new Map(resourceRows.map((row) => [row.id, row]));
        const revoked = await revokeConsentsByMrnIndex(client, transformed.revocations ?? [], {
          recordedAt: run.createdAt,
          recordedBy: run.actor,
          runId,
        });
        const resourceAudit = (action: 'CREATE' | 'UPDATE', ids: readonly string[]) =>
          ids.map((id): AuditEntry => {
            const row = rowById.get(id);
            return {
              actor: run.actor,
              action,
              resourceType: row?.resourceType ?? 'unknown',
              resourceId: id,
              runId,
              outcome: 'success',
              details:
                row?.patientId == null
                  ? { stage: 'load' }
                  : { stage: 'load', patientId: row.patientId },
            };
          });
        await appendAudit(client, deps.auditMac, [
          ...audited(run.actor, runId, 'Patient', 'CREATE', patients.created),
          ...audited(run.actor, runId, 'Patient', 'UPDATE', patients.updated),
          ...audited(run.actor, runId, 'Consent', 'CREATE', consents.created),
          ...audited(run.actor, runId, 'Consent', 'UPDATE', consents.updated),
          ...audited(run.actor, runId, 'Consent', 'UPDATE', revoked),
          ...resourceAudit('CREATE', resources.created),
          ...resourceAudit('UPDATE', resources.updated),
        ]);
        const resourceCounts =
          run.format === 'flat'
            ? {}
            : {
                ...countsByType(resourceRows, resources),
                resourcesLoaded:
                  resources.created.length + resources.updated.length + resources.unchanged.length,
                consentsRecorded: consents.created.length + consents.updated.length,
                consentsPendingRecorded: pending,
              };
        return {
          created: patients.created.length,
          updated: patients.updated.length,
          unchanged: patients.unchanged.length,
          revoked: revoked.length,
          loaded: patients.created.length + patients.updated.length + patients.unchanged.length,
          ...resourceCounts,
        };
      },
    };
  });
}
