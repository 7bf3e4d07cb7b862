/**
 * The FHIR benchmark's input: a Synthea bulk export (`<Type>.000.ndjson` files) copied N times,
 * every copy a population of its own. Every copy, the first included, gets fresh ids,
 * identifier values and names, derived from (copy, original value) alone, so copy k is the same
 * whatever N, and every reference (`Type/<id>`, `urn:uuid:<id>` and Synthea's conditional
 * `Type?identifier=system|value`) is rewritten to the copy's own resources. A fixed share of each
 * copy's patients gets a permitting patient-privacy Consent.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { descriptorOf } from '../lib/fhir/r4/descriptors.ts';
import { CONSENT_SCOPE_SYSTEM, PRIVACY_SCOPE_CODE } from '../lib/fhir/r4/mapping.ts';

export type FhirJson = Record<string, unknown>;

/** Resources by type, in the order their files list them. */
export type ResourcesByType = ReadonlyMap<string, readonly FhirJson[]>;

export const DEFAULT_PERMIT_SHARE = 0.9;
/** When the generated Consents were recorded: a fixed instant, so copies are reproducible. */
export const CONSENT_RECORDED_AT = '2026-01-01T00:00:00Z';
const NAMESPACE = 'healthcare-etl-bench/fhir-export';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** `Type/<id>`, relative or absolute, with an optional `/_history/<version>`. */
const LITERAL_REFERENCE =
  /^((?:https?:\/\/\S+\/)?)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
const CONDITIONAL_REFERENCE = /^([A-Z][A-Za-z]+)\?identifier=(.*)$/;
/** Numbers never issued as SSNs or NPIs start with 999: a value that does keeps the prefix. */
const UNISSUED_PREFIX = '999';

/** Every `*.ndjson` file of `directory`, its resources grouped by resourceType. */
export function readExport(directory: string): ResourcesByType {
  const byType = new Map<string, FhirJson[]>();
  const files = readdirSync(directory)
    .filter((name) => name.endsWith('.ndjson'))
    .sort();
  for (const file of files) {
    for (const line of readFileSync(join(directory, file), 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      const resource = JSON.parse(line) as FhirJson;
      const type = String(resource['resourceType']);
      const resources = byType.get(type) ?? [];
      resources.push(resource);
      byType.set(type, resources);
    }
  }
  return byType;
}

function digest(copy: number, value: string): Buffer {
  return createHash('sha256').update(`${NAMESPACE}\0${copy}\0${value}`).digest();
}

/** A name-based UUID (RFC 9562 version 8) for `value` in copy `copy`. */
export function copyUuid(copy: number, value: string): string {
  const bytes = digest(copy, value).subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** `value` with every digit and letter drawn anew (attempt `attempt`), its shape kept. */
function reshaped(copy: number, value: string, attempt: number): string {
  const keep = value.startsWith(UNISSUED_PREFIX) ? UNISSUED_PREFIX.length : 0;
  const draws = digest(copy, `${attempt}\0${value}`);
  let out = value.slice(0, keep);
  for (let i = keep; i < value.length; i += 1) {
    const char = value[i] ?? '';
    const draw = draws[i % draws.length] ?? 0;
    if (/[0-9]/.test(char)) out += String(draw % 10);
    else if (/[A-Z]/.test(char)) out += String.fromCharCode(65 + (draw % 26));
    else if (/[a-z]/.test(char)) out += String.fromCharCode(97 + (draw % 26));
    else out += char;
  }
  return out;
}

/** Synthea's `Name123` becomes `Name<copy + 1><123>`: distinct per copy, still one word. */
function copyName(copy: number, name: string): string {
  const [, base = name, number = ''] = /^(.*?)(\d*)$/.exec(name) ?? [];
  return `${base}${copy + 1}${number.padStart(3, '0')}`;
}

function isObject(value: unknown): value is FhirJson {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every identifier value and resource id of the export, so a new value never equals one. */
function originalValues(source: ResourcesByType): Set<string> {
  const values = new Set<string>();
  for (const resources of source.values()) {
    for (const resource of resources) {
      if (typeof resource['id'] === 'string') values.add(resource['id']);
      for (const identifier of identifiersOf(resource['identifier'])) {
        if (typeof identifier['value'] === 'string') values.add(identifier['value']);
      }
    }
  }
  return values;
}

function identifiersOf(value: unknown): FhirJson[] {
  if (Array.isArray(value)) return value.filter(isObject);
  return isObject(value) ? [value] : [];
}

/**
 * One copy's new values: ids and UUID-shaped identifier values become `copyUuid` (Synthea's
 * identifiers repeat their resource's id), other identifier values keep their shape, drawn
 * again until they clash with no original and no value given before.
 */
class CopyValues {
  readonly #copy: number;
  readonly #taken: Set<string>;
  readonly #values = new Map<string, string>();

  constructor(copy: number, taken: Set<string>) {
    this.#copy = copy;
    this.#taken = taken;
  }

  id(value: string): string {
    return copyUuid(this.#copy, value);
  }

  identifier(value: string): string {
    if (UUID.test(value)) return copyUuid(this.#copy, value);
    let fresh = this.#values.get(value);
    if (fresh === undefined) {
      for (let attempt = 0; fresh === undefined || this.#taken.has(fresh); attempt += 1) {
        fresh = reshaped(this.#copy, value, attempt);
      }
      this.#taken.add(fresh);
      this.#values.set(value, fresh);
    }
    return fresh;
  }

  reference(reference: string): string {
    const literal = LITERAL_REFERENCE.exec(reference);
    if (literal !== null) {
      const [, base = '', type = '', id = '', history = ''] = literal;
      return `${base}${type}/${this.id(id)}${history}`;
    }
    if (reference.startsWith('urn:uuid:')) {
      return `urn:uuid:${this.id(reference.slice('urn:uuid:'.length))}`;
    }
    const conditional = CONDITIONAL_REFERENCE.exec(reference);
    if (conditional !== null) {
      const [, type = '', token = ''] = conditional;
      const bar = token.indexOf('|');
      return bar === -1
        ? `${type}?identifier=${this.identifier(token)}`
        : `${type}?identifier=${token.slice(0, bar + 1)}${this.identifier(token.slice(bar + 1))}`;
    }
    return reference; // contained (#id) and others: nothing of the export's to rename
  }

  /** A deep copy of `node` with its references, identifier values and human names renewed. */
  rewrite(node: unknown, key = ''): unknown {
    if (Array.isArray(node)) return node.map((item) => this.rewrite(item, key));
    if (!isObject(node)) return node;
    const humanName = key === 'name' && ('family' in node || 'given' in node);
    const identifier = key === 'identifier';
    const out: FhirJson = {};
    for (const [name, value] of Object.entries(node)) {
      if (name === 'reference' && typeof value === 'string') {
        out[name] = this.reference(value);
      } else if (identifier && name === 'value' && typeof value === 'string') {
        out[name] = this.identifier(value);
      } else if (humanName && name === 'family' && typeof value === 'string') {
        out[name] = copyName(this.#copy, value);
      } else if (humanName && name === 'given' && Array.isArray(value)) {
        out[name] = value.map((given) =>
          typeof given === 'string' ? copyName(this.#copy, given) : given,
        );
      } else {
        out[name] = this.rewrite(value, name);
      }
    }
    return out;
  }
}

/** A patient-privacy Consent that permits data sharing, as consentFromFhir reads one. */
export function permitConsent(copy: number, patientId: string): FhirJson {
  return {
    resourceType: 'Consent',
    id: copyUuid(copy, `Consent/${patientId}`),
    status: 'active',
    scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: PRIVACY_SCOPE_CODE }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${patientId}` },
    dateTime: CONSENT_RECORDED_AT,
    policyRule: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }],
    },
    provision: { type: 'permit' },
  };
}

export interface CopyOptions {
  readonly copies: number;
  /** Of each copy's patients, the share given a permitting Consent (rounded to whole patients). */
  readonly permitShare?: number;
}

/**
 * Copies 0 to `copies - 1` of the export, one at a time, each with its generated Consents under
 * `Consent`. Copy k is the same on every call and for every `copies` above k.
 */
export function* exportCopies(
  source: ResourcesByType,
  { copies, permitShare = DEFAULT_PERMIT_SHARE }: CopyOptions,
): Generator<ResourcesByType> {
  const taken = originalValues(source);
  for (let copy = 0; copy < copies; copy += 1) {
    const values = new CopyValues(copy, taken);
    const byType = new Map<string, FhirJson[]>();
    for (const [type, resources] of source) {
      byType.set(
        type,
        resources.map((resource) => {
          const renewed = values.rewrite(resource) as FhirJson;
          if (typeof resource['id'] === 'string') renewed['id'] = values.id(resource['id']);
          return renewed;
        }),
      );
    }
    const patientIds = (byType.get('Patient') ?? []).flatMap(({ id }) =>
      typeof id === 'string' ? [id] : [],
    );
    // The permitted patients: a fixed count, picked by a draw that depends on the copy only.
    const permitted = patientIds
      .map((id) => ({ id, draw: digest(copy, `permit\0${id}`).toString('hex') }))
      .sort((a, b) => (a.draw < b.draw ? -1 : a.draw > b.draw ? 1 : 0))
      .slice(0, Math.round(permitShare * patientIds.length));
    const consents = permitted.map(({ id }) => permitConsent(copy, id));
    byType.set('Consent', [...(byType.get('Consent') ?? []), ...consents]);
    yield byType;
  }
}

/**
 * The types each type's references name: literal, conditional, and logical (an identifier
 * alone, as Synthea's PractitionerRole and Location name theirs), from the resources.
 */
export function referencedTypes(source: ResourcesByType): Map<string, Set<string>> {
  const typeOfIdentifier = new Map<string, string>();
  for (const [type, resources] of source) {
    for (const resource of resources) {
      for (const { system, value } of identifiersOf(resource['identifier'])) {
        typeOfIdentifier.set(`${system}|${value}`, type);
      }
    }
  }
  const named = new Map<string, Set<string>>();
  const visit = (type: string, node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(type, item);
      return;
    }
    if (!isObject(node)) return;
    const add = (target: string | undefined) => {
      if (target !== undefined) named.set(type, (named.get(type) ?? new Set()).add(target));
    };
    for (const [key, value] of Object.entries(node)) {
      if (key === 'reference' && typeof value === 'string') {
        add(LITERAL_REFERENCE.exec(value)?.[2] ?? CONDITIONAL_REFERENCE.exec(value)?.[1]);
      } else if (key === 'identifier' && isObject(value)) {
        add(typeOfIdentifier.get(`${value['system']}|${value['value']}`));
      } else {
        visit(type, value);
      }
    }
  };
  for (const [type, resources] of source) {
    named.set(type, named.get(type) ?? new Set());
    for (const resource of resources) {
      // The resource's own identifiers name nothing.
      const { identifier: _own, ...rest } = resource;
      visit(type, rest);
    }
  }
  return named;
}

/** Kahn's order of `types`, each after the ones of them it names, ties by name. */
function afterWhatTheyName(
  types: readonly string[],
  named: ReadonlyMap<string, ReadonlySet<string>>,
): string[] {
  const left = new Set(types);
  const order: string[] = [];
  while (left.size > 0) {
    const ready = [...left]
      .filter((type) =>
        [...(named.get(type) ?? [])].every((other) => other === type || !left.has(other)),
      )
      .sort();
    // A cycle: take the first by name, so every type is still loaded.
    const next = ready[0] ?? [...left].sort()[0];
    if (next === undefined) break;
    left.delete(next);
    order.push(next);
  }
  return order;
}

/**
 * The order types are loaded in: Consents (they wait for their patient), Patients, the shared
 * types, then the rest, each group's types after those they name.
 */
export function loadOrder(source: ResourcesByType): string[] {
  const named = referencedTypes(source);
  const types = [...new Set([...source.keys(), 'Consent'])];
  // Shared by many patients (Practitioner, Organization, ...): stored without a consent gate.
  const isShared = (type: string) => descriptorOf(type)?.kind === 'shared';
  const rest = types.filter((type) => type !== 'Consent' && type !== 'Patient' && !isShared(type));
  return [
    'Consent',
    ...(types.includes('Patient') ? ['Patient'] : []),
    ...afterWhatTheyName(types.filter(isShared), named),
    ...afterWhatTheyName(rest, named),
  ];
}

/** NDJSON bodies of at most `maxRecords` lines and `maxBytes` UTF-8 bytes (a longer line alone). */
export function ndjsonRuns(
  lines: Iterable<string>,
  maxRecords: number,
  maxBytes: number,
): { body: string; records: number }[] {
  const runs: { body: string; records: number }[] = [];
  let run: string[] = [];
  let bytes = 0;
  const flush = () => {
    if (run.length === 0) return;
    runs.push({ body: `${run.join('\n')}\n`, records: run.length });
    run = [];
    bytes = 0;
  };
  for (const line of lines) {
    const size = Buffer.byteLength(line) + 1;
    if (run.length === maxRecords || (run.length > 0 && bytes + size > maxBytes)) flush();
    run.push(line);
    bytes += size;
  }
  flush();
  return runs;
}
