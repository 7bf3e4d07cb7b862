import type { AuditEntry } from '../db/repositories/auditLog.ts';
import {
  type ConsentRow,
  findConsents,
  lockConsents,
  revokeConsentsByMrnIndex,
  upsertConsents,
  weighConsent,
} from '../db/repositories/consents.ts';
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
import type { Rejection } from '../db/repositories/rejections.ts';
import {
  deleteWithheldReferences,
  upsertWithheldReferences,
} from '../db/repositories/withheldPatients.ts';
import { StageInputError, TransientDatabaseError } from '../errors.ts';
import type { PipelineDependencies } from './dependencies.ts';
import { blocked } from './fhirConsent.ts';
import { refuseEarlierPayload, type TransformedPayload } from './payloads.ts';
import { type CommitOutcome, runStage } from './stageFrame.ts';
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
 * The patients of the batch (and those its resources name) whose consent on record refuses
 * data sharing, read under lock: a refusal made since ConsentCheck (through the API, or before a
 * re-drive) stops them, unless the batch's own decision outranks it as weighConsent says.
 */
function refusedOnRecord(
  onRecord: ReadonlyMap<string, ConsentRow>,
  offered: readonly ConsentRow[],
): Set<string> {
  const offeredBy = new Map(offered.map((row) => [row.patientId, row]));
  const refused = new Set<string>();
  for (const [patientId, current] of onRecord) {
    if (current.dataSharing) continue;
    const decision = offeredBy.get(patientId);
    if (decision?.dataSharing === true && weighConsent(current, decision) === 'applies') continue;
    refused.add(patientId);
  }
  return refused;
}

/** A row Load does not write: its type and the batch positions it came from. */
interface Stopped {
  readonly resourceType: string;
  readonly recordIndexes: readonly number[];
}

/**
 * The rows of a `transformed` payload, less the patients a refusal on record stops, their
 * references and grants, and every resource one of them had to consent to.
 */
function withoutRefused(
  transformed: TransformedPayload,
  refused: ReadonlySet<string>,
): { readonly kept: TransformedPayload; readonly dropped: readonly Stopped[] } {
  if (refused.size === 0) return { kept: transformed, dropped: [] };
  const { origins } = transformed;
  const positions = (found: number | readonly number[] | undefined): readonly number[] => {
    if (found === undefined) {
      throw new StageInputError(
        'The transformed payload was written by an earlier version of the pipeline; submit the batch again',
      );
    }
    return typeof found === 'number' ? [found] : found;
  };
  const dropped: Stopped[] = [];
  const patients = transformed.patients.filter((row) => {
    if (!refused.has(row.id)) return true;
    dropped.push({
      resourceType: 'Patient',
      recordIndexes: positions(origins?.patients.get(row.id)),
    });
    return false;
  });
  const droppedResources = new Set<string>();
  const resources = (transformed.resources ?? []).filter((row) => {
    const consentOf = origins?.resourceConsents.get(row.id) ?? [row.patientId];
    if (!consentOf.some((patientId) => patientId !== null && refused.has(patientId))) return true;
    droppedResources.add(row.id);
    dropped.push({
      resourceType: row.resourceType,
      recordIndexes: positions(origins?.resources.get(row.id)),
    });
    return false;
  });
  return {
    kept: {
      ...transformed,
      patients,
      // A refusal the batch carries is recorded all the same; a grant the one on record revokes is not.
      consents: transformed.consents.filter(
        (row) => !row.dataSharing || !refused.has(row.patientId),
      ),
      references: (transformed.references ?? []).filter((row) => !refused.has(row.patientId)),
      resources,
      resourceReferences: (transformed.resourceReferences ?? []).filter(
        (row) => !droppedResources.has(row.resourceId),
      ),
    },
    dropped,
  };
}

/**
 * Load: one transaction upserts patients, the references they are known by, consents and every
 * other resource, audits each change, and ends the run.
 */
export function load(deps: PipelineDependencies, runId: string): Promise<StageResult> {
  return runStage<TransformedPayload>(deps, 'load', runId, async (sent) => {
    refuseEarlierPayload(sent, ['observations']);
    return {
      counts: {},
      completesRun: true,
      commit: async (client, run): Promise<CommitOutcome> => {
        const gated = [
          ...new Set([
            ...sent.patients.map((row) => row.id),
            ...sent.consents.map((row) => row.patientId),
            ...[...(sent.origins?.resourceConsents.values() ?? [])].flat(),
            ...(sent.resources ?? []).flatMap((row) => row.patientId ?? []),
          ]),
        ];
        // Read first, so no refusing patient's row is written; then, the patients' rows held
        // (the lock order of every Load: patients, then consents), locked and weighed again.
        const seen = refusedOnRecord(await findConsents(client, gated), sent.consents);
        const patients = await upsertPatients(
          client,
          runId,
          sent.patients.filter((row) => !seen.has(row.id)),
        );
        const locked = refusedOnRecord(
          await lockConsents(
            client,
            gated,
            (sent.revocations ?? []).map((revocation) => revocation.mrnBidx),
          ),
          sent.consents,
        );
        if (sent.patients.some((row) => locked.has(row.id) && !seen.has(row.id))) {
          // A refusal committed between the read and the lock: this attempt wrote the row.
          throw new TransientDatabaseError('a consent changed while Load ran');
        }
        const { kept: transformed, dropped } = withoutRefused(sent, new Set([...seen, ...locked]));
        const denials = dropped.flatMap(({ resourceType, recordIndexes }) =>
          recordIndexes.map((index) => blocked(run, index, resourceType, 'revoked', 'load')),
        );
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
        const audit: AuditEntry[] = [
          ...audited(run.actor, runId, 'Patient', 'CREATE', patients.created),
          ...audited(run.actor, runId, 'Patient', 'UPDATE', patients.updated),
          ...audited(run.actor, runId, 'Consent', 'CREATE', consents.created),
          ...audited(run.actor, runId, 'Consent', 'UPDATE', consents.updated),
          ...audited(run.actor, runId, 'Consent', 'UPDATE', revoked),
          ...resourceAudit('CREATE', resources.created),
          ...resourceAudit('UPDATE', resources.updated),
          ...denials.map(({ denial }) => denial),
        ];
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
        const stopped: RunCounts =
          denials.length === 0
            ? {}
            : {
                blocked: (run.counts['blocked'] ?? 0) + denials.length,
                consented:
                  (run.counts['consented'] ?? 0) -
                  dropped.filter(({ resourceType }) => resourceType === 'Patient').length,
              };
        const counts: RunCounts = {
          created: patients.created.length,
          updated: patients.updated.length,
          unchanged: patients.unchanged.length,
          revoked: revoked.length,
          loaded: patients.created.length + patients.updated.length + patients.unchanged.length,
          ...resourceCounts,
          ...stopped,
        };
        const rejections: Rejection[] = denials.map(({ rejection }) => rejection);
        return { counts, rejections, audit };
      },
    };
  });
}
