/**
 * What differs between R4 resource types, as data: the elements that name a resource's patient
 * and the elements its status, code, category and principal date are searched by, generated
 * from the specification by scripts/extract-fhir-descriptors.ts. `searchValuesOf` reads them
 * from a resource.
 */
import { normalizeMrn } from '../../crypto/blindIndex.ts';
import type { RecordValidation } from '../validation.ts';
import descriptorsJson from './descriptors.json' with { type: 'json' };
import { hasCoding, IDENTIFIER_TYPE_SYSTEM, MRN_TYPE_CODE, utcInstant } from './mapping.ts';
import type { FhirElement, FhirIdentifier } from './model.ts';

/** The patient itself, data about one patient (consent-gated with them), or shared by many. */
export type ResourceKind = 'patient' | 'patient-data' | 'shared';

/** Paths are dotted element names below the resource, arrays crossed: `performer.actor`. */
export interface ResourceDescriptor {
  readonly resourceType: string;
  readonly kind: ResourceKind;
  /** Patient-compartment parameter (and `Device.patient`) → the Reference elements it reads. */
  readonly patientParams: Readonly<Record<string, readonly string[]>>;
  /** Every element of patientParams once, in their order. */
  readonly patientPaths: readonly string[];
  readonly statusPath?: string;
  /** A `code`, a Coding or a CodeableConcept's `coding`: where a `system|code` token is read. */
  readonly codePaths: readonly string[];
  readonly categoryPaths: readonly string[];
  /** date, dateTime and instant elements, a Period's `start`: the first present is the date. */
  readonly datePaths: readonly string[];
}

interface DescriptorJson {
  readonly patient?: Readonly<Record<string, readonly string[]>>;
  readonly status?: string;
  readonly code?: readonly string[];
  readonly category?: readonly string[];
  readonly date?: readonly string[];
}

function descriptorFrom(resourceType: string, json: DescriptorJson): ResourceDescriptor {
  const patientParams = json.patient ?? {};
  const patientPaths = [...new Set(Object.values(patientParams).flat())];
  return {
    resourceType,
    kind:
      resourceType === 'Patient' ? 'patient' : patientPaths.length > 0 ? 'patient-data' : 'shared',
    patientParams,
    patientPaths,
    ...(json.status === undefined ? {} : { statusPath: json.status }),
    codePaths: json.code ?? [],
    categoryPaths: json.category ?? [],
    datePaths: json.date ?? [],
  };
}

const DESCRIPTORS: ReadonlyMap<string, ResourceDescriptor> = new Map(
  Object.entries(descriptorsJson as Readonly<Record<string, DescriptorJson>>).map(
    ([resourceType, json]) => [resourceType, descriptorFrom(resourceType, json)],
  ),
);

/** The descriptor of an R4 resource type; undefined for a name R4 does not define. */
export function descriptorOf(resourceType: string): ResourceDescriptor | undefined {
  return DESCRIPTORS.get(resourceType);
}

/** What a resource is found by: read through its type's descriptor. */
export interface SearchValues {
  /** References that name or may name a Patient (`Patient/…`, `urn:uuid:…`), as sent, once each. */
  readonly patientReferences: readonly string[];
  /** MR identifier values of logical references without a reference, as an Observation's subject. */
  readonly patientMrns: readonly string[];
  readonly status?: string;
  readonly codeSystem?: string;
  readonly code?: string;
  readonly category?: string;
  /** The principal date in UTC ISO 8601; a date without a time is its first instant in UTC. */
  readonly date?: string;
}

interface Located {
  /** JSON Pointer of the value, as problems name it. */
  readonly pointer: string;
  readonly value: unknown;
}

/** Every value at a dotted path, arrays on the way crossed in order. */
function valuesAt(resource: object, path: string): Located[] {
  let found: Located[] = [{ pointer: '', value: resource }];
  for (const name of path.split('.')) {
    found = found.flatMap(({ pointer, value }) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
      const child: unknown = (value as FhirElement)[name];
      const at = `${pointer}/${name}`;
      if (child === undefined) return [];
      return Array.isArray(child)
        ? child.map((item: unknown, index) => ({ pointer: `${at}/${index}`, value: item }))
        : [{ pointer: at, value: child }];
    });
  }
  return found;
}

interface Token {
  readonly system?: string;
  readonly code: string;
}

/** The first code along the paths: a `code` value itself, or a Coding that has a code. */
function firstToken(resource: object, paths: readonly string[]): Token | undefined {
  for (const path of paths) {
    for (const { value } of valuesAt(resource, path)) {
      if (typeof value === 'string') return { code: value };
      if (typeof value !== 'object' || value === null) continue;
      const { system, code } = value as { system?: unknown; code?: unknown };
      if (typeof code !== 'string') continue;
      return typeof system === 'string' ? { system, code } : { code };
    }
  }
  return undefined;
}

// The type named by a relative, absolute or conditional reference: `Patient/1`, `…/Patient/1`,
// `Patient?identifier=…`.
const REFERENCE_TYPE = /^(?:[a-z][a-z0-9+.-]*:\/\/\S+\/)?([A-Z][A-Za-z]+)[/?]/;

/**
 * Whether a reference may be to a Patient: one naming the Patient type, or a `urn:` one whose
 * declared type, if any, is Patient. What it points at is resolved with the batch and the store.
 */
function mayNamePatient(reference: string, declaredType: unknown): boolean {
  if (declaredType !== undefined && declaredType !== 'Patient') return false;
  if (reference.startsWith('urn:')) return true;
  return REFERENCE_TYPE.exec(reference)?.[1] === 'Patient';
}

/** The MR identifier value of a logical reference, whatever its system, as a Patient's MRN. */
function logicalMrn(identifier: unknown): string | undefined {
  if (typeof identifier !== 'object' || identifier === null) return undefined;
  const { type, value } = identifier as FhirIdentifier;
  return typeof value === 'string' &&
    normalizeMrn(value) !== '' &&
    hasCoding(type, IDENTIFIER_TYPE_SYSTEM, MRN_TYPE_CODE)
    ? value
    : undefined;
}

/**
 * The patient references, status, code, category and principal date of a resource its type's
 * descriptor names. A principal date that is no instant (a leap second, past 9999 in UTC) is a
 * problem at its path.
 */
export function searchValuesOf(
  descriptor: ResourceDescriptor,
  resource: object,
): RecordValidation<SearchValues> {
  const references = new Set<string>();
  const mrns = new Set<string>();
  for (const path of descriptor.patientPaths) {
    for (const { value } of valuesAt(resource, path)) {
      if (typeof value !== 'object' || value === null) continue;
      const { reference, type, identifier } = value as FhirElement;
      if (typeof reference === 'string') {
        if (mayNamePatient(reference, type)) references.add(reference);
      } else if (type === undefined || type === 'Patient') {
        const mrn = logicalMrn(identifier);
        if (mrn !== undefined) mrns.add(mrn);
      }
    }
  }
  const status =
    descriptor.statusPath === undefined
      ? undefined
      : firstToken(resource, [descriptor.statusPath])?.code;
  const code = firstToken(resource, descriptor.codePaths);
  const category = firstToken(resource, descriptor.categoryPaths)?.code;
  const dated = descriptor.datePaths
    .flatMap((path) => valuesAt(resource, path))
    .find(({ value }) => typeof value === 'string');
  const instant =
    dated === undefined ? undefined : utcInstant(dated.value as string, dated.pointer);
  if (instant !== undefined && 'problem' in instant) {
    return { ok: false, problems: [instant.problem] };
  }
  return {
    ok: true,
    value: {
      patientReferences: [...references],
      patientMrns: [...mrns],
      ...(status === undefined ? {} : { status }),
      ...(code?.system === undefined ? {} : { codeSystem: code.system }),
      ...(code === undefined ? {} : { code: code.code }),
      ...(category === undefined ? {} : { category }),
      ...(instant === undefined ? {} : { date: instant.instant }),
    },
  };
}
