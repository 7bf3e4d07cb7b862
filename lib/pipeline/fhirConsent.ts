/**
 * ConsentCheck for FHIR input. Every Observation and Consent is matched to its patient: one
 * in the same batch (by id or fullUrl) or one already stored (by reference blind index), or,
 * for an Observation naming its patient by MR identifier, the patient with that MRN. A
 * patient's consent is the newest of the batch's Consent resources and the stored decision;
 * only an explicit permit lets the patient, and the patient's Observations, through.
 */
import type { AuditEntry } from '../db/repositories/auditLog.ts';
import { findConsents } from '../db/repositories/consents.ts';
import type { IngestRun } from '../db/repositories/ingestRuns.ts';
import { findPatientsByReference } from '../db/repositories/patientReferences.ts';
import { findStoredPatientIds } from '../db/repositories/patients.ts';
import { findPendingConsents } from '../db/repositories/pendingConsents.ts';
import type { Rejection } from '../db/repositories/rejections.ts';
import { referenceKey } from '../fhir/r4/mapping.ts';
import type { FhirConsentRecord } from '../fhir/r4/model.ts';
import type { PipelineDependencies } from './dependencies.ts';
import { patientIdentity, referenceIndex } from './patientIdentity.ts';
import type {
  ConsentDecision,
  ConsentRefusal,
  LinkedObservation,
  PatientEntry,
  PatientsPayload,
  PendingDecision,
} from './payloads.ts';
import type { RunCounts } from './stages.ts';

export interface FhirConsentOutcome {
  readonly output: PatientsPayload;
  readonly rejections: Rejection[];
  readonly audit: AuditEntry[];
  readonly counts: RunCounts;
}

type Target =
  | { readonly kind: 'batch'; readonly entry: PatientEntry; readonly patientId: string }
  | { readonly kind: 'stored'; readonly patientId: string }
  | { readonly kind: 'unresolved'; readonly why: 'not-a-patient' | 'not-found' };

interface Candidate extends ConsentDecision {
  readonly patientId: string;
}

type Effective = 'permit' | 'refused' | 'absent';

/**
 * Active: the base provision decides. Inactive or rejected: no permit is in force, so it
 * refuses. Draft, proposed and entered-in-error decide nothing.
 */
function decisionOf(record: FhirConsentRecord): 'permit' | 'deny' | undefined {
  if (record.status === 'active') return record.dataSharing ? 'permit' : 'deny';
  if (record.status === 'inactive' || record.status === 'rejected') return 'deny';
  return undefined;
}

function newer(a: Candidate, b: Candidate | undefined): boolean {
  return (
    b === undefined ||
    a.recordedAt > b.recordedAt ||
    (a.recordedAt === b.recordedAt && a.index > b.index)
  );
}

/** A record the consent stage stops: its rejection and the audited denial, always together. */
export function blocked(
  run: IngestRun,
  recordIndex: number,
  resourceType: string,
  consent: string,
): { rejection: Rejection; denial: AuditEntry } {
  return {
    rejection: {
      recordIndex,
      resourceType,
      reason: 'consent',
      details: { requires: 'data_sharing', consent },
    },
    denial: {
      actor: run.actor,
      action: 'DENY',
      resourceType,
      resourceId: null,
      runId: run.id,
      outcome: 'denied',
      details: { stage: 'consentCheck', recordIndex, reason: 'consent', consent },
    },
  };
}

/** Resolves references, decides each patient's consent, and blocks what lacks a permit. */
export async function checkFhirConsent(
  deps: PipelineDependencies,
  run: IngestRun,
  validated: PatientsPayload,
): Promise<FhirConsentOutcome> {
  const observations = validated.observations ?? [];
  const consents = validated.consents ?? [];
  const indexKey = await deps.keyring.blindIndexKeyObject(deps.pool);
  const patientIds = new Map<number, string>();
  const entryById = new Map<string, PatientEntry>();
  const inBatch = new Map<string, PatientEntry>();
  for (const entry of validated.records) {
    const { id } = patientIdentity(indexKey, entry.record.mrn);
    patientIds.set(entry.index, id);
    entryById.set(id, entry);
    for (const key of entry.referenceKeys ?? []) inBatch.set(key, entry);
  }

  // One HMAC per reference, however many records name it.
  const referenceIndexes = new Map<string, Buffer>();
  const indexOf = (key: string): Buffer => {
    let index = referenceIndexes.get(key);
    if (index === undefined) {
      index = referenceIndex(indexKey, key);
      referenceIndexes.set(key, index);
    }
    return index;
  };

  // Decisions that arrived before their patient: they count as if sent with it.
  const batchKeys = [...inBatch.keys()];
  const pendingByIndex = await findPendingConsents(deps.pool, batchKeys.map(indexOf));

  const outside = new Set<string>();
  for (const reference of [
    ...observations.map(({ record }) => record.subjectReference),
    ...consents.map(({ record }) => record.patientReference),
  ]) {
    const key = reference === undefined ? undefined : referenceKey(reference);
    if (key !== undefined && !inBatch.has(key)) outside.add(key);
  }
  const storedByIndex = await findPatientsByReference(deps.pool, [...outside].map(indexOf));
  const storedIdOf = (key: string) => storedByIndex.get(indexOf(key).toString('base64'));

  // Observations naming their patient by MRN: the patient's id follows from the MRN.
  const idOfMrn = new Map<string, string>();
  for (const { record } of observations) {
    if (record.subjectMrn !== undefined && !idOfMrn.has(record.subjectMrn)) {
      idOfMrn.set(record.subjectMrn, patientIdentity(indexKey, record.subjectMrn).id);
    }
  }
  const storedById = await findStoredPatientIds(
    deps.pool,
    [...new Set(idOfMrn.values())].filter((id) => !entryById.has(id)),
  );

  const targetByMrn = (mrn: string): Target => {
    const patientId = idOfMrn.get(mrn) ?? '';
    const entry = entryById.get(patientId);
    if (entry !== undefined) return { kind: 'batch', entry, patientId };
    return storedById.has(patientId)
      ? { kind: 'stored', patientId }
      : { kind: 'unresolved', why: 'not-found' };
  };
  const target = (reference: string): Target => {
    const key = referenceKey(reference);
    if (key === undefined) return { kind: 'unresolved', why: 'not-a-patient' };
    const entry = inBatch.get(key);
    if (entry !== undefined) {
      return { kind: 'batch', entry, patientId: patientIds.get(entry.index) ?? '' };
    }
    const patientId = storedIdOf(key);
    return patientId === undefined
      ? { kind: 'unresolved', why: 'not-found' }
      : { kind: 'stored', patientId };
  };

  const rejections: Rejection[] = [];
  const audit: AuditEntry[] = [];
  const orphan = (index: number, resourceType: string, element: string, why: string) =>
    rejections.push({
      recordIndex: index,
      resourceType,
      reason: 'orphan-reference',
      details: { element, reference: why },
    });

  // The newest decision of the batch per patient; ties go to the later resource.
  const latest = new Map<string, Candidate>();
  for (const entry of validated.records) {
    const patientId = patientIds.get(entry.index) ?? '';
    for (const key of entry.referenceKeys ?? []) {
      const pending = pendingByIndex.get(indexOf(key).toString('base64'));
      if (pending === undefined) continue;
      const candidate: Candidate = {
        index: -1,
        patientId,
        patient: { recordIndex: entry.index },
        dataSharing: pending.dataSharing,
        research: pending.research,
        recordedAt: pending.recordedAt.toISOString(),
        recordedBy: pending.recordedBy,
      };
      if (newer(candidate, latest.get(patientId))) latest.set(patientId, candidate);
    }
  }
  const runTime = run.createdAt.toISOString();
  const pendingDecisions = new Map<string, PendingDecision>();
  let undecided = 0;
  for (const { index, record } of consents) {
    const resolved = target(record.patientReference);
    const decision = decisionOf(record);
    if (resolved.kind === 'unresolved' && resolved.why === 'not-a-patient') {
      orphan(index, 'Consent', 'patient', resolved.why);
      continue;
    }
    if (decision === undefined) {
      undecided += 1;
      continue;
    }
    // A future dateTime would outrank every later decision: it counts as the run's time.
    const recordedAt =
      record.dateTime !== undefined && record.dateTime < runTime ? record.dateTime : runTime;
    const dataSharing = decision === 'permit';
    const research = dataSharing && record.research;
    if (resolved.kind === 'unresolved') {
      // Not stored yet: kept until the Patient arrives, the newest decision per reference.
      const key = referenceKey(record.patientReference) ?? '';
      const refBidx = indexOf(key).toString('base64');
      const known = pendingDecisions.get(refBidx);
      if (known === undefined || known.recordedAt <= recordedAt) {
        pendingDecisions.set(refBidx, { refBidx, dataSharing, research, recordedAt });
      }
      continue;
    }
    const candidate: Candidate = {
      index,
      patientId: resolved.patientId,
      patient:
        resolved.kind === 'batch'
          ? { recordIndex: resolved.entry.index }
          : { patientId: resolved.patientId },
      dataSharing,
      research,
      recordedAt,
    };
    if (newer(candidate, latest.get(resolved.patientId))) {
      latest.set(resolved.patientId, candidate);
    }
  }

  const stored = await findConsents(deps.pool, [
    ...new Set([...patientIds.values(), ...storedByIndex.values(), ...storedById]),
  ]);
  const decisions: Candidate[] = [];
  /** The batch's decision when it is at least as new as the one on record. */
  const winning = (patientId: string): Candidate | undefined => {
    const fromBatch = latest.get(patientId);
    const onRecord = stored.get(patientId);
    return fromBatch !== undefined &&
      (onRecord === undefined || fromBatch.recordedAt >= onRecord.recordedAt.toISOString())
      ? fromBatch
      : undefined;
  };
  const effectiveOf = (patientId: string): Effective => {
    const decided = winning(patientId) ?? stored.get(patientId);
    if (decided === undefined) return 'absent';
    return decided.dataSharing ? 'permit' : 'refused';
  };

  const consented: PatientEntry[] = [];
  const refusals: ConsentRefusal[] = [];
  for (const entry of validated.records) {
    const patientId = patientIds.get(entry.index) ?? '';
    const consent = effectiveOf(patientId);
    const decision = winning(patientId);
    if (consent === 'permit') {
      consented.push(entry);
      if (decision !== undefined) decisions.push(decision);
      continue;
    }
    // A refusal withdraws the consent of a patient already stored; a new one is never stored.
    if (decision !== undefined) {
      refusals.push({ index: entry.index, mrn: entry.record.mrn, research: decision.research });
    }
    const stopped = blocked(run, entry.index, 'Patient', consent);
    rejections.push(stopped.rejection);
    audit.push(stopped.denial);
  }
  // Consents about stored patients who are not in this batch: recorded as they are.
  const inBatchIds = new Set(patientIds.values());
  for (const [patientId, candidate] of latest) {
    if (!inBatchIds.has(patientId) && winning(patientId) === candidate) {
      decisions.push(candidate);
    }
  }

  const linkedObservations: LinkedObservation[] = [];
  for (const observation of observations) {
    const { subjectMrn, subjectReference } = observation.record;
    const resolved = subjectMrn === undefined ? target(subjectReference) : targetByMrn(subjectMrn);
    if (resolved.kind === 'unresolved') {
      orphan(observation.index, 'Observation', 'subject', resolved.why);
      continue;
    }
    const consent = effectiveOf(resolved.patientId);
    if (consent !== 'permit') {
      const stopped = blocked(run, observation.index, 'Observation', consent);
      rejections.push(stopped.rejection);
      audit.push(stopped.denial);
      continue;
    }
    linkedObservations.push({
      ...observation,
      patient:
        resolved.kind === 'batch'
          ? { recordIndex: resolved.entry.index }
          : { patientId: resolved.patientId },
    });
  }

  return {
    output: {
      records: consented,
      refusals,
      linkedObservations,
      consentDecisions: decisions.map(({ patientId: _patientId, ...decision }) => decision),
      pendingConsents: [...pendingDecisions.values()],
    },
    rejections,
    audit,
    counts: {
      consented: consented.length,
      blocked: rejections.filter(({ reason }) => reason === 'consent').length,
      orphans: rejections.filter(({ reason }) => reason === 'orphan-reference').length,
      observationsConsented: linkedObservations.length,
      consentsUndecided: undecided,
      consentsPending: pendingDecisions.size,
    },
  };
}
