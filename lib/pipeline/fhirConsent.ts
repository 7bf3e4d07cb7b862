/**
 * ConsentCheck for FHIR input. Every Consent, and every resource of patient data (any type with
 * a Patient-compartment parameter), is matched to its patient: one in the same batch (by id or
 * fullUrl) or one already stored (by reference blind index, in the sender's namespace), or, for
 * a resource naming its patient by MR identifier, the patient with that MRN. A patient's consent
 * follows from the stored decision and the batch's Consent resources, weighed in time order as
 * weighConsent says (a permit dated before a refusal on record is revoked, a Consent without
 * dateTime counts as decided when it arrived, like a flat record's); only a permit lets the
 * patient, and the patient's data, through. Resources shared by many patients
 * (a Practitioner, an Organization) name no patient and pass.
 *
 * Three steps: `resolveConsentFacts` reads what the database knows, `decideFhirConsent` (pure)
 * gives each record its verdict, and `blockFhirRecords` (pure) turns the verdicts into what goes
 * on, what is rejected and what waits.
 */
import { blindIndex } from '../crypto/blindIndex.ts';
import type { AuditEntry } from '../db/repositories/auditLog.ts';
import {
  type ConsentRow,
  type ConsentStanding,
  findConsents,
  weighConsent,
} from '../db/repositories/consents.ts';
import type { IngestRun } from '../db/repositories/ingestRuns.ts';
import {
  findPatientsByReference,
  findPatientsBySendersEarlierReference,
} from '../db/repositories/patientReferences.ts';
import { findStoredPatientIds } from '../db/repositories/patients.ts';
import { findPendingConsents, type PendingConsentRow } from '../db/repositories/pendingConsents.ts';
import type { Rejection } from '../db/repositories/rejections.ts';
import { findWithheldPatients, type WithheldPatient } from '../db/repositories/withheldPatients.ts';
import { descriptorOf } from '../fhir/r4/descriptors.ts';
import { referenceKey } from '../fhir/r4/mapping.ts';
import type { FhirConsentRecord } from '../fhir/r4/model.ts';
import type { NamedPatients } from '../fhir/r4/references.ts';
import type { PipelineDependencies } from './dependencies.ts';
import { patientIdentity } from './patientIdentity.ts';
import type {
  ConsentDecision,
  ConsentRefusal,
  LinkedResource,
  PatientEntry,
  PatientLink,
  PatientsPayload,
  PendingDecision,
  ResourceEntry,
  WithheldPatientEntry,
} from './payloads.ts';
import { referenceIndex, sourceNamespace } from './resourceIdentity.ts';
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
  /** The id each MR identifier a resource names its patient by gives. */
  readonly idOfMrn: ReadonlyMap<string, string>;
  /** Of those ids, the ones of stored patients not in the batch. */
  readonly storedIds: ReadonlySet<string>;
  /** The blind index (base64) of each reference key that names no Patient of the batch. */
  readonly referenceIndexes: ReadonlyMap<string, string>;
  /** The stored patient each of those reference keys names, when one does. */
  readonly storedByReference: ReadonlyMap<string, string>;
  /**
   * Patients the consent stage stopped before, by the reference keys and MRN ids that name no
   * stored patient: what names them is stopped for their consent, not an orphan.
   */
  readonly withheldByReference: ReadonlyMap<string, WithheldPatient>;
  readonly withheldById: ReadonlyMap<string, WithheldPatient>;
  /** Decisions that waited in pending_consents, by the reference key of a Patient of the batch. */
  readonly waiting: ReadonlyMap<
    string,
    Pick<PendingConsentRow, 'dataSharing' | 'research' | 'recordedAt' | 'explicit' | 'recordedBy'>
  >;
  /** The consent on record of each patient concerned, stored or in the batch. */
  readonly onRecord: ReadonlyMap<
    string,
    Pick<ConsentRow, 'dataSharing' | 'research' | 'recordedAt' | 'explicit'>
  >;
}

/** The consent in force for a patient: an explicit permit, a refusal, or none at all. */
export type EffectiveConsent = 'permit' | 'refused' | 'absent';

export interface PatientVerdict {
  readonly entry: PatientEntry;
  /** The id its MRN gives. */
  readonly patientId: string;
  readonly consent: EffectiveConsent;
  /** The batch's decision (or one that waited for the patient) when it is the one in force. */
  readonly decision?: ConsentDecision;
}

export type ResourceVerdict = { readonly resource: ResourceEntry } & (
  | { readonly kind: 'shared' }
  | {
      readonly kind: 'linked';
      readonly patient: PatientLink;
      /** Every known patient it names, whose consent let it through. */
      readonly consentOf: readonly PatientLink[];
    }
  | { readonly kind: 'orphan'; readonly why: UnresolvedReason }
  | { readonly kind: 'blocked'; readonly consent: Exclude<EffectiveConsent, 'permit'> }
);

/**
 * What became of a Consent resource: it names no patient, decides nothing (draft, proposed,
 * entered-in-error), waits for its patient to be stored, decides for a known patient, or is a
 * permit a standing refusal revokes.
 */
export interface ConsentResourceVerdict {
  readonly index: number;
  readonly kind: 'orphan' | 'undecided' | 'pending' | 'decided' | 'revoked';
}

/** Each record's verdict, and the decisions to record. */
export interface ConsentVerdicts {
  readonly patients: readonly PatientVerdict[];
  readonly resources: readonly ResourceVerdict[];
  readonly consents: readonly ConsentResourceVerdict[];
  /** The batch's decisions about stored patients not in it, where they are the newest. */
  readonly decisionsOnStored: readonly ConsentDecision[];
  /** Decisions about patients not stored yet: the newest per reference. */
  readonly pending: readonly PendingDecision[];
}

/** `missing`: patient data that names no patient at all. */
type UnresolvedReason = 'not-a-patient' | 'not-found' | 'missing';

type Target =
  | { readonly kind: 'batch'; readonly recordIndex: number; readonly patientId: string }
  | { readonly kind: 'stored'; readonly patientId: string }
  | {
      readonly kind: 'unresolved';
      readonly why: UnresolvedReason;
      /** Not stored, because the consent stage stopped the patient. */
      readonly withheld?: WithheldPatient;
    };

interface Candidate extends ConsentDecision {
  readonly patientId: string;
}

/** Reads what the batch's patients and references are known as, and the decisions on record. */
export async function resolveConsentFacts(
  deps: PipelineDependencies,
  namespace: string,
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
      index = referenceIndex(indexKey, namespace, key);
      indexes.set(key, index);
    }
    return index;
  };

  // Before migration 1764000008000 references were indexed without their sender: the rows this
  // sender wrote then are found under the key's index alone.
  const earlierIndexes = new Map<string, Buffer>();
  const earlierIndexOf = (key: string): Buffer => {
    let index = earlierIndexes.get(key);
    if (index === undefined) {
      index = blindIndex(indexKey, 'reference', key);
      earlierIndexes.set(key, index);
    }
    return index;
  };

  // Decisions that arrived before their patient: they count as if sent with it.
  const waitingByIndex = await findPendingConsents(deps.pool, [
    ...[...batchKeys].map(indexOf),
    ...[...batchKeys].map(earlierIndexOf),
  ]);
  const waiting = new Map<string, PendingConsentRow>();
  for (const key of batchKeys) {
    const own = waitingByIndex.get(indexOf(key).toString('base64'));
    const earlier = waitingByIndex.get(earlierIndexOf(key).toString('base64'));
    const earlierOwn = earlier?.recordedBy === namespace ? earlier : undefined;
    const pending =
      own === undefined || (earlierOwn !== undefined && earlierOwn.recordedAt > own.recordedAt)
        ? (earlierOwn ?? own)
        : own;
    if (pending !== undefined) waiting.set(key, pending);
  }

  const outside = new Set<string>();
  for (const reference of [
    ...(validated.resources ?? []).flatMap(({ search, namedPatients }) => [
      ...search.patientReferences,
      ...(namedPatients?.references ?? []),
      ...(namedPatients?.candidates ?? []),
    ]),
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
  const notFound = [...outside].filter((key) => !storedByReference.has(key));
  const storedEarlier = await findPatientsBySendersEarlierReference(
    deps.pool,
    notFound.map(earlierIndexOf),
    namespace,
  );
  for (const key of notFound) {
    const patientId = storedEarlier.get(earlierIndexOf(key).toString('base64'));
    if (patientId !== undefined) storedByReference.set(key, patientId);
  }

  // Resources naming their patient by MRN: the patient's id follows from the MRN.
  const idOfMrn = new Map<string, string>();
  for (const { search, namedPatients } of validated.resources ?? []) {
    for (const mrn of [...search.patientMrns, ...(namedPatients?.mrns ?? [])]) {
      if (!idOfMrn.has(mrn)) idOfMrn.set(mrn, patientIdentity(indexKey, mrn).id);
    }
  }
  const batchIds = new Set(patientIds.values());
  const storedIds = await findStoredPatientIds(
    deps.pool,
    [...new Set(idOfMrn.values())].filter((id) => !batchIds.has(id)),
  );
  const unknownKeys = [...outside].filter((key) => !storedByReference.has(key));
  const withheld = await findWithheldPatients(
    deps.pool,
    unknownKeys.map(indexOf),
    [...new Set(idOfMrn.values())].filter((id) => !batchIds.has(id) && !storedIds.has(id)),
  );
  const withheldByReference = new Map<string, WithheldPatient>();
  for (const key of unknownKeys) {
    const found = withheld.byReference.get(indexOf(key).toString('base64'));
    if (found !== undefined) withheldByReference.set(key, found);
  }

  const onRecord = await findConsents(deps.pool, [
    ...new Set([...patientIds.values(), ...storedByReference.values(), ...storedIds]),
  ]);
  return {
    patientIds,
    idOfMrn,
    storedIds,
    referenceIndexes,
    storedByReference,
    withheldByReference,
    withheldById: withheld.byId,
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

function standingOf(decision: Omit<ConsentDecision, 'patient'>): ConsentStanding {
  return {
    dataSharing: decision.dataSharing,
    recordedAt: new Date(decision.recordedAt),
    explicit: decision.explicit,
  };
}

/**
 * Weighs decisions about one patient (or one waiting reference) in time order, ties in batch
 * order, against the one on record: the last that applies is the one to record, and the
 * permits a standing refusal revoked are named.
 */
function weighInTurn<T extends Omit<ConsentDecision, 'patient'>>(
  onRecord: ConsentStanding | undefined,
  offered: readonly T[],
): { readonly applied?: T; readonly revoked: readonly T[] } {
  let current = onRecord;
  let applied: T | undefined;
  const revoked: T[] = [];
  // As instants: a dateTime may be a date alone, or carry an offset.
  const inTurn = offered
    .map((decision) => ({ decision, standing: standingOf(decision) }))
    .toSorted(
      (a, b) =>
        a.standing.recordedAt.getTime() - b.standing.recordedAt.getTime() ||
        a.decision.index - b.decision.index,
    );
  for (const { decision, standing } of inTurn) {
    const weight = weighConsent(current, standing);
    if (weight === 'applies') {
      current = standing;
      applied = decision;
    } else if (weight === 'revoked') {
      revoked.push(decision);
    }
  }
  return applied === undefined ? { revoked } : { applied, revoked };
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const values = map.get(key);
  if (values === undefined) map.set(key, [value]);
  else values.push(value);
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
    if (facts.storedIds.has(patientId)) return { kind: 'stored', patientId };
    const withheld = facts.withheldById.get(patientId);
    return {
      kind: 'unresolved',
      why: 'not-found',
      ...(withheld === undefined ? {} : { withheld }),
    };
  };
  const target = (reference: string): Target => {
    const key = referenceKey(reference);
    if (key === undefined) return { kind: 'unresolved', why: 'not-a-patient' };
    const entry = inBatch.get(key);
    if (entry !== undefined) {
      return { kind: 'batch', recordIndex: entry.index, patientId: idOf(entry) };
    }
    const patientId = facts.storedByReference.get(key);
    if (patientId !== undefined) return { kind: 'stored', patientId };
    const withheld = facts.withheldByReference.get(key);
    return {
      kind: 'unresolved',
      why: 'not-found',
      ...(withheld === undefined ? {} : { withheld }),
    };
  };

  // Every decision of the batch per patient, and those that waited for a patient of the batch.
  const offered = new Map<string, Candidate[]>();
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
        explicit: waited.explicit,
        recordedBy: waited.recordedBy,
      };
      pushTo(offered, patientId, candidate);
    }
  }
  const runTime = receivedAt.toISOString();
  const pendingOffered = new Map<string, (PendingDecision & { readonly index: number })[]>();
  const consentKinds = new Map<number, ConsentResourceVerdict['kind']>();
  for (const { index, record } of validated.consents ?? []) {
    const resolved = target(record.patientReference);
    const decision = decisionOf(record);
    if (resolved.kind === 'unresolved' && resolved.why === 'not-a-patient') {
      consentKinds.set(index, 'orphan');
      continue;
    }
    if (decision === undefined) {
      consentKinds.set(index, 'undecided');
      continue;
    }
    // Without a dateTime it is a feed decision, recorded when it arrived. A future dateTime
    // would outrank every later decision: it counts as the run's time.
    const explicit = record.dateTime !== undefined;
    const recordedAt =
      record.dateTime !== undefined && new Date(record.dateTime) < receivedAt
        ? record.dateTime
        : runTime;
    const dataSharing = decision === 'permit';
    const research = dataSharing && record.research;
    if (resolved.kind === 'unresolved') {
      // Not stored yet: kept until the Patient arrives, one decision per reference.
      const key = referenceKey(record.patientReference) ?? '';
      const refBidx = facts.referenceIndexes.get(key) ?? '';
      pushTo(pendingOffered, refBidx, {
        index,
        refBidx,
        dataSharing,
        research,
        recordedAt,
        explicit,
      });
      consentKinds.set(index, 'pending');
      continue;
    }
    consentKinds.set(index, 'decided');
    pushTo(offered, resolved.patientId, {
      index,
      patientId: resolved.patientId,
      patient: linkOf(resolved),
      dataSharing,
      research,
      recordedAt,
      explicit,
    });
  }

  // Each patient's decisions weighed against the one on record: the one to record, if any.
  const winners = new Map<string, Candidate>();
  for (const [patientId, decisions] of offered) {
    const { applied, revoked } = weighInTurn(facts.onRecord.get(patientId), decisions);
    if (applied !== undefined) winners.set(patientId, applied);
    for (const { index } of revoked) if (index >= 0) consentKinds.set(index, 'revoked');
  }
  const pending: PendingDecision[] = [];
  for (const decisions of pendingOffered.values()) {
    const { applied, revoked } = weighInTurn(undefined, decisions);
    if (applied !== undefined) {
      const { index: _index, ...decision } = applied;
      pending.push(decision);
    }
    for (const { index } of revoked) consentKinds.set(index, 'revoked');
  }
  const consents = [...consentKinds].map(
    ([index, kind]): ConsentResourceVerdict => ({ index, kind }),
  );

  const winning = (patientId: string): Candidate | undefined => winners.get(patientId);
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
      patientId,
      consent: effectiveOf(patientId),
      ...(decision === undefined ? {} : { decision: withoutPatientId(decision) }),
    };
  });
  // Consents about stored patients who are not in this batch: recorded as they are.
  const batchIds = new Set(facts.patientIds.values());
  const decisionsOnStored: ConsentDecision[] = [];
  for (const [patientId, candidate] of winners) {
    if (!batchIds.has(patientId)) decisionsOnStored.push(withoutPatientId(candidate));
  }

  const resources = (validated.resources ?? []).map((resource): ResourceVerdict => {
    const { patientReferences, patientMrns } = resource.search;
    const named = resource.namedPatients ?? NAMED_NOBODY;
    const isPatientData = descriptorOf(resource.resourceType)?.kind === 'patient-data';
    // Patient data is about the first patient its compartment elements name (subject before
    // performer); a type no patient owns is about the first patient it names anywhere.
    const resolvedCandidates = named.candidates.map(target).filter(isKnown);
    const primaries = isPatientData
      ? [...patientReferences.map(target), ...patientMrns.map(targetByMrn)]
      : [...named.references.map(target), ...named.mrns.map(targetByMrn), ...resolvedCandidates];
    const [primary] = primaries;
    if (primary === undefined) {
      return isPatientData
        ? { resource, kind: 'orphan', why: 'missing' }
        : { resource, kind: 'shared' };
    }
    if (primary.kind === 'unresolved') {
      return primary.withheld === undefined
        ? { resource, kind: 'orphan', why: primary.why }
        : { resource, kind: 'blocked', consent: primary.withheld.consent };
    }
    // Every other patient it names, wherever and however, that we know of must consent too.
    const others = [
      ...primaries,
      ...named.references.map(target),
      ...named.mrns.map(targetByMrn),
      ...resolvedCandidates,
    ];
    const consentOf = new Map<string, PatientLink>();
    for (const other of others) {
      if (other.kind === 'unresolved') {
        if (other.withheld !== undefined) {
          return { resource, kind: 'blocked', consent: other.withheld.consent };
        }
        continue;
      }
      const consent = effectiveOf(other.patientId);
      if (consent !== 'permit') return { resource, kind: 'blocked', consent };
      consentOf.set(other.patientId, linkOf(other));
    }
    return {
      resource,
      kind: 'linked',
      patient: linkOf(primary),
      consentOf: [...consentOf.values()],
    };
  });

  return { patients, resources, consents, decisionsOnStored, pending };
}

const NAMED_NOBODY: NamedPatients = {
  references: [],
  candidates: [],
  mrns: [],
  containsPatient: false,
};

/** A target that names a patient we know of: in the batch, stored, or stopped before. */
function isKnown(named: Target): boolean {
  return named.kind !== 'unresolved' || named.withheld !== undefined;
}

/**
 * A record the consent stage stops (or Load, for a refusal it finds under lock): its rejection
 * and the audited denial, always together.
 */
export function blocked(
  run: IngestRun,
  recordIndex: number,
  resourceType: string,
  consent: string,
  stage: 'consentCheck' | 'load' = 'consentCheck',
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
      details: { stage, recordIndex, reason: 'consent', consent },
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
    if (kind === 'revoked') stop(index, 'Consent', 'revoked');
  }

  const consented: PatientEntry[] = [];
  const refusals: ConsentRefusal[] = [];
  const decisions: ConsentDecision[] = [];
  const withheld: WithheldPatientEntry[] = [];
  for (const { entry, patientId, consent, decision } of verdicts.patients) {
    if (consent === 'permit') {
      consented.push(entry);
      if (decision !== undefined) decisions.push(decision);
      continue;
    }
    if ((entry.referenceKeys ?? []).length > 0) {
      withheld.push({ patientId, referenceKeys: entry.referenceKeys ?? [], consent });
    }
    // A refusal withdraws the consent of a patient already stored; a new one is never stored.
    if (decision !== undefined) {
      refusals.push({ index: entry.index, mrn: entry.record.mrn, research: decision.research });
    }
    stop(entry.index, 'Patient', consent);
  }
  decisions.push(...verdicts.decisionsOnStored);

  const linkedResources: LinkedResource[] = [];
  for (const verdict of verdicts.resources) {
    const { resource } = verdict;
    if (verdict.kind === 'orphan') {
      const element = descriptorOf(resource.resourceType)?.patientPaths[0] ?? 'subject';
      rejections.push(orphan(resource.index, resource.resourceType, element, verdict.why));
    } else if (verdict.kind === 'blocked') {
      stop(resource.index, resource.resourceType, verdict.consent);
    } else if (verdict.kind === 'linked') {
      linkedResources.push({ ...resource, patient: verdict.patient, consentOf: verdict.consentOf });
    } else {
      linkedResources.push(resource);
    }
  }

  return {
    output: {
      records: consented,
      refusals,
      linkedResources,
      consentDecisions: decisions,
      pendingConsents: verdicts.pending,
      withheldPatients: withheld,
    },
    rejections,
    audit,
    counts: {
      consented: consented.length,
      blocked: rejections.filter(({ reason }) => reason === 'consent').length,
      orphans: rejections.filter(({ reason }) => reason === 'orphan-reference').length,
      resourcesConsented: linkedResources.filter(({ patient }) => patient !== undefined).length,
      resourcesShared: linkedResources.filter(({ patient }) => patient === undefined).length,
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
  const facts = await resolveConsentFacts(deps, sourceNamespace(run), validated);
  return blockFhirRecords(run, decideFhirConsent(validated, facts, run.createdAt));
}
