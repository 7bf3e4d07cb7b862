/**
 * FHIR references as text: what a reference names, the keys a resource can be named by, and a
 * copy of a resource with its references replaced. Pure: which keys are stored is for the
 * pipeline to say, and what they resolve to for the reads.
 */
import { isJsonObject } from '../../json.ts';
import type { FhirJson } from './resources.ts';

const FHIR_ID = '[A-Za-z0-9\\-.]{1,64}';
const TYPE = '[A-Z][A-Za-z]{1,63}';

// `Type/id`, absolute `http(s)://…/Type/id`, either with `/_history/v`.
const LITERAL = new RegExp(`^(?:https?://\\S+/)?(${TYPE})/(${FHIR_ID})(?:/_history/${FHIR_ID})?$`);
// `Type?identifier=system|value`: one identifier, the form Synthea writes.
const CONDITIONAL = new RegExp(`^(${TYPE})\\?identifier=([^&]*)$`);
const URN = /^urn:(?:uuid|oid):[^\s]{1,200}$/;

/** What a reference names, or undefined for a contained (`#id`) or unparsed reference. */
export type ParsedReference =
  | { readonly kind: 'literal'; readonly resourceType: string; readonly id: string }
  | {
      readonly kind: 'conditional';
      readonly resourceType: string;
      readonly system: string;
      readonly value: string;
    }
  | { readonly kind: 'urn'; readonly urn: string };

function decoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

export function parseReference(reference: string): ParsedReference | undefined {
  const literal = LITERAL.exec(reference);
  if (literal !== null) {
    return { kind: 'literal', resourceType: literal[1] as string, id: literal[2] as string };
  }
  const conditional = CONDITIONAL.exec(reference);
  if (conditional !== null) {
    const token = decoded(conditional[2] as string);
    const bar = token?.indexOf('|') ?? -1;
    if (token === undefined || bar <= 0 || bar === token.length - 1) return undefined;
    return {
      kind: 'conditional',
      resourceType: conditional[1] as string,
      system: token.slice(0, bar),
      value: token.slice(bar + 1),
    };
  }
  return URN.test(reference) ? { kind: 'urn', urn: reference } : undefined;
}

/** One text per thing named: `Type/id`, `Type?identifier=system|value`, or the urn itself. */
export function referenceKeyText(parsed: ParsedReference): string {
  switch (parsed.kind) {
    case 'literal':
      return `${parsed.resourceType}/${parsed.id}`;
    case 'conditional':
      return `${parsed.resourceType}?identifier=${parsed.system}|${parsed.value}`;
    case 'urn':
      return parsed.urn;
  }
}

/** `Type?identifier=system|value` for each identifier with both, as conditional references name it. */
export function identifierKeys(resourceType: string, resource: FhirJson): string[] {
  const identifiers = resource['identifier'];
  if (!Array.isArray(identifiers)) return [];
  const keys = new Set<string>();
  for (const identifier of identifiers) {
    if (!isJsonObject(identifier)) continue;
    const { system, value } = identifier;
    if (typeof system === 'string' && typeof value === 'string' && system !== '' && value !== '') {
      keys.add(`${resourceType}?identifier=${system}|${value}`);
    }
  }
  return [...keys];
}

function isReferenceElement(value: Readonly<Record<string, unknown>>): boolean {
  return typeof value['reference'] === 'string';
}

/** Every `reference` string of the resource's Reference elements, once each, contained ones aside. */
export function referencesIn(resource: FhirJson): string[] {
  const found = new Set<string>();
  const visit = (value: unknown, top: boolean): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item, false);
      return;
    }
    if (!isJsonObject(value)) return;
    if (isReferenceElement(value)) found.add(value['reference'] as string);
    for (const [name, child] of Object.entries(value)) {
      // Contained resources name each other by `#id`, and are not ours to resolve.
      if (top && name === 'contained') continue;
      if (typeof child === 'object' && child !== null) visit(child, false);
    }
  };
  visit(resource, true);
  return [...found];
}

/**
 * A copy of the resource whose Reference elements' `reference` is replaced where `replace` gives
 * a new one; every other value, and every reference it leaves, as it was.
 */
export function rewriteReferences(
  resource: FhirJson,
  replace: (reference: string) => string | undefined,
): FhirJson {
  const copy = (value: unknown, top: boolean): unknown => {
    if (Array.isArray(value)) return value.map((item) => copy(item, false));
    if (!isJsonObject(value)) return value;
    const out: Record<string, unknown> = {};
    for (const [name, child] of Object.entries(value)) {
      out[name] = top && name === 'contained' ? child : copy(child, false);
    }
    if (isReferenceElement(value)) {
      const replaced = replace(value['reference'] as string);
      if (replaced !== undefined) out['reference'] = replaced;
    }
    return out;
  };
  return copy(resource, true) as FhirJson;
}

/** Every patient a resource names anywhere, its contained resources included. */
export interface NamedPatients {
  /** `Patient/<id>` references (relative or absolute), whatever type they declare. */
  readonly references: readonly string[];
  /** `urn:` references: a patient when the batch or the store says so, else something else. */
  readonly candidates: readonly string[];
  /** MRNs: a conditional `Patient?identifier=system|value`, or a logical MR identifier. */
  readonly mrns: readonly string[];
  /** Whether a contained resource is itself a Patient. */
  readonly containsPatient: boolean;
}

const MR_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v2-0203';

function isMrIdentifier(identifier: unknown): identifier is { readonly value: string } {
  if (!isJsonObject(identifier) || typeof identifier['value'] !== 'string') return false;
  if (identifier['value'].trim() === '') return false;
  const type = identifier['type'];
  const codings = isJsonObject(type) && Array.isArray(type['coding']) ? type['coding'] : [];
  return codings.some(
    (coding: unknown) =>
      isJsonObject(coding) && coding['system'] === MR_SYSTEM && coding['code'] === 'MR',
  );
}

/**
 * The patients a resource names through any Reference element, contained resources included:
 * what the consent stage must know of before it stores the resource, in whatever element
 * (a `focus`, a Contract's `subject`) and whatever form (literal, `urn:uuid`, conditional,
 * logical) the sender used.
 */
export function patientsNamedIn(resource: FhirJson): NamedPatients {
  const references = new Set<string>();
  const candidates = new Set<string>();
  const mrns = new Set<string>();
  let containsPatient = false;
  const visit = (value: unknown, root = false): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item);
      return;
    }
    if (!isJsonObject(value)) return;
    const reference = value['reference'];
    if (typeof reference === 'string') {
      const parsed = parseReference(reference);
      if (parsed?.kind === 'literal' && parsed.resourceType === 'Patient')
        references.add(reference);
      else if (parsed?.kind === 'urn') candidates.add(reference);
      else if (parsed?.kind === 'conditional' && parsed.resourceType === 'Patient') {
        mrns.add(parsed.value);
      }
    } else if (!root && (value['type'] === undefined || value['type'] === 'Patient')) {
      // A logical reference; a resource's own identifier (at its root) names itself.
      if (isMrIdentifier(value['identifier'])) mrns.add(value['identifier'].value);
    }
    for (const [name, child] of Object.entries(value)) {
      if (name === 'contained' && Array.isArray(child)) {
        for (const contained of child) {
          if (isJsonObject(contained) && contained['resourceType'] === 'Patient') {
            containsPatient = true;
          }
          visit(contained, true);
        }
        continue;
      }
      if (typeof child === 'object' && child !== null) visit(child);
    }
  };
  visit(resource, true);
  return {
    references: [...references],
    candidates: [...candidates],
    mrns: [...mrns],
    containsPatient,
  };
}
