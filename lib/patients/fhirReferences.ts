/**
 * Which stored resources the references of a page of resources name, found set-wise: the keys
 * each reference may be stored under are derived first, then looked up once a table. A
 * reference resolves within its resource's namespace (the sender that wrote it), as the
 * pipeline stored it: `Type/<id>` derives our id, `Patient/<id>` and `urn:uuid:` are in
 * patient_references, fullUrls and `Type?identifier=system|value` in resource_references.
 */
import type { SecretKeyMaterial } from '../crypto/fieldCipher.ts';
import type { Queryable } from '../db/pool.ts';
import {
  findReferencedPatients,
  findResourcesByReference,
  findResourceTypes,
  type ReferencedResource,
} from '../db/repositories/fhirResources.ts';
import { referenceKey } from '../fhir/r4/mapping.ts';
import { parseReference, referenceKeyText } from '../fhir/r4/references.ts';
import { referenceIndex, resourceIdOf } from '../pipeline/resourceIdentity.ts';

/** The references of one resource, and the namespace they are read in (null: none resolve). */
export interface NamedReferences {
  readonly namespace: string | null;
  readonly references: readonly string[];
}

/** A stored resource a reference names. */
export interface ResolvedTarget {
  readonly resourceType: string;
  readonly id: string;
  /** The patient it is (a Patient) or belongs to; null for a shared resource. */
  readonly patientId: string | null;
  /** Whether that patient shares data now (true for a shared resource). */
  readonly shares: boolean;
}

export interface ReferenceResolution {
  /** What a reference of a resource of that namespace names, or undefined: leave it as sent. */
  targetOf(namespace: string | null, reference: string): ResolvedTarget | undefined;
  /**
   * Our reference for it (`Encounter/<our id>`), or undefined: leave it as sent. A reference to
   * another patient, or to another patient's data, is rewritten only while that patient shares
   * data: our ids of a patient who refused are not handed out through someone else's resource.
   * With `onlyOwn` (a reader confined to a launch patient) never: they are not its to follow.
   */
  replace(
    namespace: string | null,
    reference: string,
    ownPatientId?: string | null,
    onlyOwn?: boolean,
  ): string | undefined;
  /** Every target found that is not a Patient. */
  readonly resources: readonly ResolvedTarget[];
}

/** The ways one reference may be stored, in the order they are preferred. */
type Candidate =
  | { readonly table: 'patient'; readonly bidx: string }
  | { readonly table: 'resource-id'; readonly id: string; readonly resourceType?: string }
  | { readonly table: 'resource-reference'; readonly bidx: string };

function candidatesOf(
  indexKey: SecretKeyMaterial,
  namespace: string,
  reference: string,
  bidxOf: (key: string) => string,
): Candidate[] {
  const parsed = parseReference(reference);
  if (parsed === undefined) return [];
  const patientKey = referenceKey(reference);
  const patient: Candidate[] =
    patientKey === undefined ? [] : [{ table: 'patient', bidx: bidxOf(patientKey) }];
  switch (parsed.kind) {
    case 'literal': {
      if (parsed.resourceType === 'Patient') return patient;
      const key = referenceKeyText(parsed);
      const byId: Candidate = {
        table: 'resource-id',
        id: resourceIdOf(indexKey, namespace, key),
        resourceType: parsed.resourceType,
      };
      // An absolute reference may be the fullUrl a resource was sent under.
      return reference === key
        ? [byId]
        : [byId, { table: 'resource-reference', bidx: bidxOf(reference) }];
    }
    case 'conditional':
      return [{ table: 'resource-reference', bidx: bidxOf(referenceKeyText(parsed)) }];
    case 'urn':
      // A resource sent without an id is known by its fullUrl: it derived our id.
      return [
        ...patient,
        { table: 'resource-id', id: resourceIdOf(indexKey, namespace, reference) },
        { table: 'resource-reference', bidx: bidxOf(reference) },
      ];
  }
}

function targetOfResource(resource: ReferencedResource): ResolvedTarget {
  return {
    resourceType: resource.resourceType,
    id: resource.id,
    patientId: resource.patientId,
    shares: resource.patientId === null || resource.patientShares,
  };
}

/**
 * Resolves every reference of the page in three queries at most (patient_references,
 * fhir_resources by id, resource_references), however many resources and references it holds.
 */
export async function resolveReferences(
  db: Queryable,
  indexKey: SecretKeyMaterial,
  named: readonly NamedReferences[],
): Promise<ReferenceResolution> {
  const bidxs = new Map<string, Buffer>();
  const candidates = new Map<string, Candidate[]>();
  const entryKey = (namespace: string, reference: string): string => `${namespace}\n${reference}`;
  for (const { namespace, references } of named) {
    if (namespace === null) continue;
    const bidxOf = (key: string): string => {
      const index = referenceIndex(indexKey, namespace, key);
      const text = index.toString('base64');
      bidxs.set(text, index);
      return text;
    };
    for (const reference of references) {
      const key = entryKey(namespace, reference);
      if (!candidates.has(key)) {
        candidates.set(key, candidatesOf(indexKey, namespace, reference, bidxOf));
      }
    }
  }
  const all = [...candidates.values()].flat();
  const patientBidxs = new Set<string>();
  const referenceBidxs = new Set<string>();
  const ids = new Set<string>();
  for (const candidate of all) {
    if (candidate.table === 'patient') patientBidxs.add(candidate.bidx);
    else if (candidate.table === 'resource-reference') referenceBidxs.add(candidate.bidx);
    else ids.add(candidate.id);
  }
  const buffers = (set: ReadonlySet<string>): Buffer[] =>
    [...set].map((text) => bidxs.get(text) as Buffer);
  // One after the other: `db` is often a transaction's one connection.
  const patients = await findReferencedPatients(db, buffers(patientBidxs));
  const types = await findResourceTypes(db, [...ids]);
  const byReference = await findResourcesByReference(db, buffers(referenceBidxs));

  const found = (candidate: Candidate): ResolvedTarget | undefined => {
    switch (candidate.table) {
      case 'patient': {
        const patient = patients.get(candidate.bidx);
        return patient === undefined
          ? undefined
          : {
              resourceType: 'Patient',
              id: patient.id,
              patientId: patient.id,
              shares: patient.shares,
            };
      }
      case 'resource-id': {
        const resource = types.get(candidate.id);
        if (resource === undefined) return undefined;
        if (
          candidate.resourceType !== undefined &&
          candidate.resourceType !== resource.resourceType
        ) {
          return undefined;
        }
        return targetOfResource(resource);
      }
      case 'resource-reference': {
        const resource = byReference.get(candidate.bidx);
        return resource === undefined ? undefined : targetOfResource(resource);
      }
    }
  };
  const targets = new Map<string, ResolvedTarget>();
  for (const [key, list] of candidates) {
    for (const candidate of list) {
      const target = found(candidate);
      if (target !== undefined) {
        targets.set(key, target);
        break;
      }
    }
  }
  const resources = new Map<string, ResolvedTarget>();
  for (const target of targets.values()) {
    if (target.resourceType !== 'Patient') resources.set(target.id, target);
  }
  const targetOf = (namespace: string | null, reference: string): ResolvedTarget | undefined =>
    namespace === null ? undefined : targets.get(entryKey(namespace, reference));
  return {
    targetOf,
    replace: (namespace, reference, ownPatientId = null, onlyOwn = false) => {
      const target = targetOf(namespace, reference);
      if (target === undefined) return undefined;
      const someoneElse = target.patientId !== null && target.patientId !== ownPatientId;
      return someoneElse && (onlyOwn || !target.shares)
        ? undefined
        : `${target.resourceType}/${target.id}`;
    },
    resources: [...resources.values()],
  };
}
