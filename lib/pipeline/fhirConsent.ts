/**
 * ConsentCheck for FHIR input. Every Observation and Consent is matched to its patient: one
 * in the same batch (by id or fullUrl) or one already stored (by reference blind index), or,
 * for an Observation naming its patient by MR identifier, the patient with that MRN. A
 * patient's consent is the newest of the batch's Consent resources and the stored decision;
 * only an explicit permit lets the patient, and the patient's Observations, through.
 *
 * Three steps: `resolveConsentFacts` reads what the database knows, `decideFhirConsent` (pure)
 * gives each record its verdict, and `blockFhirRecords` (pure) turns the verdicts into what goes
 * on, what is rejected and what waits.
 */
import type { AuditEntry } from '../db/repositories/auditLog.ts';
import { type ConsentRow, findConsents } from '../db/repositories/consents.ts';
import type { IngestRun } from '../db/repositories/ingestRuns.ts';
import { findPatientsByReference } from '../db/repositories/patientReferences.ts';
import { findStoredPatientIds } from '../db/repositories/patients.ts';
import { findPendingConsents, type PendingConsentRow } from '../db/repositories/pendingConsents.ts';
import type { Rejection } from '../db/repositories/rejections.ts';
import { referenceKey } from '../fhir/r4/mapping.ts';
import type { FhirConsentRecord } from '../fhir/r4/model.ts';
import type { PipelineDependencies } from './dependencies.ts';
import { patientIdentity, referenceIndex } from './patientIdentity.ts';
import type {
  ConsentDecision,
  ConsentRefusal,
  LinkedObservation,
  ObservationEntry,
  PatientEntry,
  PatientLink,
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

/** What the database (and the index key) tell about a batch's patients and references. */
export interface ConsentFacts {
  /** The id of each Patient of the batch, derived from its MRN, by its position. */
  readonly patientIds: ReadonlyMap<number, string>;
  /** The id each MR identifier an Observation names its patient by gives. */
  readonly idOfMrn: ReadonlyMap<string, string>;
  /** Of those ids, the ones of stored patients not in the batch. */
  readonly storedIds: ReadonlySet<string>;
  /** The blind index (base64) of each reference key that names no Patient of the batch. */
  readonly referenceIndexes: ReadonlyMap<string, string>;
  /** The stored patient each of those reference keys names, when one does. */
  readonly storedByReference: ReadonlyMap<string, string>;
  /** Decisions that waited in pending_consents, by the reference key of a Patient of the batch. */
  readonly waiting: ReadonlyMap<
    string,
    Pick<PendingConsentRow, 'dataSharing' | 'research' | 'recordedAt' | 'recordedBy'>
  >;
  /** The consent on record of each patient concerned, stored or in the batch. */
  readonly onRecord: ReadonlyMap<
    string,
    Pick<ConsentRow, 'dataSharing' | 'research' | 'recordedAt'>
  >;
}

/** The consent in force for a patient: an explicit permit, a refusal, or none at all. */
export type EffectiveConsent = 'permit' | 'refused' | 'absent';

export interface PatientVerdict {
  readonly entry: PatientEntry;
  readonly consent: EffectiveConsent;
  /** The batch's decision (or one that waited for the patient) when it is the one in force. */
  readonly decision?: ConsentDecision;
}

export type ObservationVerdict = { readonly observation: ObservationEntry } & (
  | { readonly kind: 'linked'; readonly patient: PatientLink }
  | { readonly kind: 'orphan'; readonly why: UnresolvedReason }
  | { readonly kind: 'blocked'; readonly consent: Exclude<EffectiveConsent, 'permit'> }
);

/**
 * What became of a Consent resource: it names no patient, decides nothing (draft, proposed,
 * entered-in-error), waits for its patient to be stored, or decides for a known patient.
 */
export interface ConsentResourceVerdict {
  readonly index: number;
  readonly kind: 'orphan' | 'undecided' | 'pending' | 'decided';
}

/** Each record's verdict, and the decisions to record. */
export interface ConsentVerdicts {
  readonly patients: readonly PatientVerdict[];
  readonly observations: readonly ObservationVerdict[];
  readonly consents: readonly ConsentResourceVerdict[];
  /** The batch's decisions about stored patients not in it, where they are the newest. */
  readonly decisionsOnStored: readonly ConsentDecision[];
  /** Decisions about patients not stored yet: the newest per reference. */
  readonly pending: readonly PendingDecision[];
}

type UnresolvedReason = 'not-a-patient' | 'not-found';

type Target =
  | { readonly kind: 'batch'; readonly recordIndex: number; readonly patientId: string }
  | { readonly kind: 'stored'; readonly patientId: string }
  | { readonly kind: 'unresolved'; readonly why: UnresolvedReason };

interface Candidate extends ConsentDecision {
  readonly patientId: string;
}

/** Reads what the batch's patients and references are known as, and the decisions on record. */
export async function resolveConsentFacts(
  deps: PipelineDependencies,
  validated: PatientsPayload,
): Promise<ConsentFacts> {
  const indexKey = await deps.keyring.blindIndexKeyObject(deps.pool);
  const patientIds = new Map<number, string>();
  const batchKeys = new Set<string>();
  for (const entry of validated.records) {
    patientIds.set(entry.index, patientIdentity(indexKey, entry.record.mrn).id);
    for (const key of entry.referenceKeys ?? []) batchKeys.add(key);
  }

  // One HMAC per reference, however many records name it.
  const indexes = new Map<string, Buffer>();
  const indexOf = (key: string): Buffer => {
    let index = indexes.get(key);
    if (index === undefined) {
      index = referenceIndex(indexKey, key);
      indexes.set(key, index);
    }
    return index;
  };

  // Decisions that arrived before their patient: they count as if sent with it.
  const waitingByIndex = await findPendingConsents(deps.pool, [...batchKeys].map(indexOf));
  const waiting = new Map<string, PendingConsentRow>();
  for (const key of batchKeys) {
    const pending = waitingByIndex.get(indexOf(key).toString('base64'));
    if (pending !== undefined) waiting.set(key, pending);
  }

  const outside = new Set<string>();
  for (const reference of [
    ...(validated.observations ?? []).map(({ record }) => record.subjectReference),
    ...(validated.consents ?? []).map(({ record }) => record.patientReference),
  ]) {
    const key = reference === undefined ? undefined : referenceKey(reference);
    if (key !== undefined && !batchKeys.has(key)) outside.add(key);
  }
  const storedByIndex = await findPatientsByReference(deps.pool, [...outside].map(indexOf));
  const referenceIndexes = new Map<string, string>();
  const storedByReference = new Map<string, string>();
  for (const key of outside) {
    const index = indexOf(key).toString('base64');
    referenceIndexes.set(key, index);
    const patientId = storedByIndex.get(index);
    if (patientId !== undefined) storedByReference.set(key, patientId);
  }

  // Observations naming their patient by MRN: the patient's id follows from the MRN.
  const idOfMrn = new Map<string, string>();
  for (const { record } of validated.observations ?? []) {
    if (record.subjectMrn !== undefined && !idOfMrn.has(record.subjectMrn)) {
      idOfMrn.set(record.subjectMrn, patientIdentity(indexKey, record.subjectMrn).id);
    }
  }
  const batchIds = new Set(patientIds.values());
  const storedIds = await findStoredPatientIds(
    deps.pool,
    [...new Set(idOfMrn.values())].filter((id) => !batchIds.has(id)),
  );

  const onRecord = await findConsents(deps.pool, [
    ...new Set([...patientIds.values(), ...storedByIndex.values(), ...storedIds]),
  ]);
  return {
    patientIds,
    idOfMrn,
    storedIds,
    referenceIndexes,
    storedByReference,
    waiting,
    onRecord,
  };
}

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

function linkOf(target: Exclude<Target, { kind: 'unresolved' }>): PatientLink {
  return target.kind === 'batch'
    ? { recordIndex: target.recordIndex }
    : { patientId: target.patientId };
}

function withoutPatientId({ patientId: _patientId, ...decision }: Candidate): ConsentDecision {
  return decision;
}

/**
 * Decides, from the batch and the facts resolved for it, whom each record names and whether the
 * consent in force lets it through. `receivedAt` is when the run was created: no decision of
 * the batch counts as later than that.
 */
export function decideFhirConsent(
  validated: PatientsPayload,
  facts: ConsentFacts,
  receivedAt: Date,
): ConsentVerdicts {
  const idOf = (entry: PatientEntry) => facts.patientIds.get(entry.index) ?? '';
  const entryById = new Map<string, PatientEntry>();
  const inBatch = new Map<string, PatientEntry>();
  for (const entry of validated.records) {
    entryById.set(idOf(entry), entry);
    for (const key of entry.referenceKeys ?? []) inBatch.set(key, entry);
  }

  const targetByMrn = (mrn: string): Target => {
    const patientId = facts.idOfMrn.get(mrn) ?? '';
    const entry = entryById.get(patientId);
    if (entry !== undefined) return { kind: 'batch', recordIndex: entry.index, patientId };
    return facts.storedIds.has(patientId)
      ? { kind: 'stored', patientId }
      : { kind: 'unresolved', why: 'not-found' };
  };
  const target = (reference: string): Target => {
    const key = referenceKey(reference);
    if (key === undefined) return { kind: 'unresolved', why: 'not-a-patient' };
    const entry = inBatch.get(key);
    if (entry !== undefined) {
      return { kind: 'batch', recordIndex: entry.index, patientId: idOf(entry) };
    }
    const patientId = facts.storedByReference.get(key);
    return patientId === undefined
      ? { kind: 'unresolved', why: 'not-found' }
      : { kind: 'stored', patientId };
  };

  // The newest decision of the batch per patient; ties go to the later resource.
  const latest = new Map<string, Candidate>();
  for (const entry of validated.records) {
    const patientId = idOf(entry);
    for (const key of entry.referenceKeys ?? []) {
      const waited = facts.waiting.get(key);
      if (waited === undefined) continue;
      const candidate: Candidate = {
        index: -1,
        patientId,
        patient: { recordIndex: entry.index },
        dataSharing: waited.dataSharing,
        research: waited.research,
        recordedAt: waited.recordedAt.toISOString(),
        recordedBy: waited.recordedBy,
      };
      if (newer(candidate, latest.get(patientId))) latest.set(patientId, candidate);
    }
  }
  const runTime = receivedAt.toISOString();
  const pending = new Map<string, PendingDecision>();
  const consents: ConsentResourceVerdict[] = [];
  for (const { index, record } of validated.consents ?? []) {
    const resolved = target(record.patientReference);
    const decision = decisionOf(record);
    if (resolved.kind === 'unresolved' && resolved.why === 'not-a-patient') {
      consents.push({ index, kind: 'orphan' });
      continue;
    }
    if (decision === undefined) {
      consents.push({ index, kind: 'undecided' });
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
      const refBidx = facts.referenceIndexes.get(key) ?? '';
      const known = pending.get(refBidx);
      if (known === undefined || known.recordedAt <= recordedAt) {
        pending.set(refBidx, { refBidx, dataSharing, research, recordedAt });
      }
      consents.push({ index, kind: 'pending' });
      continue;
    }
    consents.push({ index, kind: 'decided' });
    const candidate: Candidate = {
      index,
      patientId: resolved.patientId,
      patient: linkOf(resolved),
      dataSharing,
      research,
      recordedAt,
    };
    if (newer(candidate, latest.get(resolved.patientId))) {
      latest.set(resolved.patientId, candidate);
    }
  }

  /** The batch's decision when it is at least as new as the one on record. */
  const winning = (patientId: string): Candidate | undefined => {
    const fromBatch = latest.get(patientId);
    const onRecord = facts.onRecord.get(patientId);
    return fromBatch !== undefined &&
      (onRecord === undefined || fromBatch.recordedAt >= onRecord.recordedAt.toISOString())
      ? fromBatch
      : undefined;
  };
  const effectiveOf = (patientId: string): EffectiveConsent => {
    const decided = winning(patientId) ?? facts.onRecord.get(patientId);
    if (decided === undefined) return 'absent';
    return decided.dataSharing ? 'permit' : 'refused';
  };

  const patients = validated.records.map((entry): PatientVerdict => {
    const patientId = idOf(entry);
    const decision = winning(patientId);
    return {
      entry,
      consent: effectiveOf(patientId),
      ...(decision === undefined ? {} : { decision: withoutPatientId(decision) }),
    };
  });
  // Consents about stored patients who are not in this batch: recorded as they are.
  const batchIds = new Set(facts.patientIds.values());
  const decisionsOnStored: ConsentDecision[] = [];
  for (const [patientId, candidate] of latest) {
    if (!batchIds.has(patientId) && winning(patientId) === candidate) {
      decisionsOnStored.push(withoutPatientId(candidate));
    }
  }

  const observations = (validated.observations ?? []).map((observation): ObservationVerdict => {
    const { subjectMrn, subjectReference } = observation.record;
    const resolved = subjectMrn === undefined ? target(subjectReference) : targetByMrn(subjectMrn);
    if (resolved.kind === 'unresolved') return { observation, kind: 'orphan', why: resolved.why };
    const consent = effectiveOf(resolved.patientId);
    return consent === 'permit'
      ? { observation, kind: 'linked', patient: linkOf(resolved) }
      : { observation, kind: 'blocked', consent };
  });

  return { patients, observations, consents, decisionsOnStored, pending: [...pending.values()] };
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

function orphan(recordIndex: number, resourceType: string, element: string, why: string) {
  return {
    recordIndex,
    resourceType,
    reason: 'orphan-reference',
    details: { element, reference: why },
  } satisfies Rejection;
}

/**
 * What the verdicts let through to Transform, what they reject (each consent block with its
 * audited denial), and what they keep waiting for its patient.
 */
export function blockFhirRecords(run: IngestRun, verdicts: ConsentVerdicts): FhirConsentOutcome {
  const rejections: Rejection[] = [];
  const audit: AuditEntry[] = [];
  const stop = (recordIndex: number, resourceType: string, consent: string) => {
    const stopped = blocked(run, recordIndex, resourceType, consent);
    rejections.push(stopped.rejection);
    audit.push(stopped.denial);
  };
  for (const { index, kind } of verdicts.consents) {
    if (kind === 'orphan') rejections.push(orphan(index, 'Consent', 'patient', 'not-a-patient'));
  }

  const consented: PatientEntry[] = [];
  const refusals: ConsentRefusal[] = [];
  const decisions: ConsentDecision[] = [];
  for (const { entry, consent, decision } of verdicts.patients) {
    if (consent === 'permit') {
      consented.push(entry);
      if (decision !== undefined) decisions.push(decision);
      continue;
    }
    // A refusal withdraws the consent of a patient already stored; a new one is never stored.
    if (decision !== undefined) {
      refusals.push({ index: entry.index, mrn: entry.record.mrn, research: decision.research });
    }
    stop(entry.index, 'Patient', consent);
  }
  decisions.push(...verdicts.decisionsOnStored);

  const linkedObservations: LinkedObservation[] = [];
  for (const verdict of verdicts.observations) {
    const { observation } = verdict;
    if (verdict.kind === 'orphan') {
      rejections.push(orphan(observation.index, 'Observation', 'subject', verdict.why));
    } else if (verdict.kind === 'blocked') {
      stop(observation.index, 'Observation', verdict.consent);
    } else {
      linkedObservations.push({ ...observation, patient: verdict.patient });
    }
  }

  return {
    output: {
      records: consented,
      refusals,
      linkedObservations,
      consentDecisions: decisions,
      pendingConsents: verdicts.pending,
    },
    rejections,
    audit,
    counts: {
      consented: consented.length,
      blocked: rejections.filter(({ reason }) => reason === 'consent').length,
      orphans: rejections.filter(({ reason }) => reason === 'orphan-reference').length,
      observationsConsented: linkedObservations.length,
      consentsUndecided: verdicts.consents.filter(({ kind }) => kind === 'undecided').length,
      consentsPending: verdicts.pending.length,
    },
  };
}

/** Resolves references, decides each patient's consent, and blocks what lacks a permit. */
export async function checkFhirConsent(
  deps: PipelineDependencies,
  run: IngestRun,
  validated: PatientsPayload,
): Promise<FhirConsentOutcome> {
  const facts = await resolveConsentFacts(deps, validated);
  return blockFhirRecords(run, decideFhirConsent(validated, facts, run.createdAt));
}
