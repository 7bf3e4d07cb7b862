/**
 * The server's FHIR R4 CapabilityStatement (`GET /fhir/r4/metadata`), derived from the route
 * table and the per-type descriptors: what it lists is what the routes serve, type by type.
 */
import { ROUTES, type Route } from '../../api/routes.ts';
import { ConfigError } from '../../errors.ts';
import { FHIR_JSON_MEDIA_TYPE } from '../../mediaTypes.ts';
import { descriptorOf } from './descriptors.ts';
import type { FhirJson } from './resources.ts';
import {
  PATIENT_DATA_TYPES,
  patientDataDescriptor,
  STORED_TYPES,
  searchParametersOf,
} from './search.ts';

export const FHIR_BASE_PATH = '/fhir/r4';

/** When this statement last changed in what it says; R4 requires a date. */
const STATEMENT_DATE = '2026-12-03';
/** The OperationDefinition of each operation a route serves: `$name` in a route path. */
const OPERATION_DEFINITIONS: Readonly<Record<string, string>> = {
  everything: 'http://hl7.org/fhir/OperationDefinition/Patient-everything',
};
const SECURITY_SERVICE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/restful-security-service';

/** Search parameters as the statement types them; `subject:Patient` is a modifier of subject. */
const PARAMETER_TYPES: Readonly<Record<string, string>> = {
  patient: 'reference',
  subject: 'reference',
  date: 'date',
  code: 'token',
  category: 'token',
  status: 'token',
  _count: 'number',
};

type Interaction = 'read' | 'search-type';

interface Served {
  readonly interactions: Set<Interaction>;
  readonly operations: Set<string>;
}

/** The types a path segment stands for: a literal type, or `{type}`, every one the route takes. */
function typesOf(segment: string, interaction: Interaction | 'operation'): readonly string[] {
  if (segment !== '{type}') return descriptorOf(segment) === undefined ? [] : [segment];
  return interaction === 'search-type' ? PATIENT_DATA_TYPES : STORED_TYPES;
}

/** What the FHIR GET routes serve, type by type. */
function servedByRoutes(routes: Readonly<Record<string, Route>>): Map<string, Served> {
  const served = new Map<string, Served>();
  const add = (types: readonly string[], what: (entry: Served) => void): void => {
    for (const type of types) {
      let entry = served.get(type);
      if (entry === undefined) {
        entry = { interactions: new Set(), operations: new Set() };
        served.set(type, entry);
      }
      what(entry);
    }
  };
  for (const route of Object.values(routes)) {
    if (route.method !== 'GET' || !route.path.startsWith(`${FHIR_BASE_PATH}/`)) continue;
    const [type, id, operation, ...rest] = route.path.slice(FHIR_BASE_PATH.length + 1).split('/');
    if (type === undefined || rest.length > 0 || (id !== undefined && id !== '{id}')) continue;
    if (id === undefined) {
      add(typesOf(type, 'search-type'), (entry) => entry.interactions.add('search-type'));
    } else if (operation === undefined) {
      add(typesOf(type, 'read'), (entry) => entry.interactions.add('read'));
    } else if (operation.startsWith('$')) {
      add(typesOf(type, 'operation'), (entry) => entry.operations.add(operation.slice(1)));
    }
  }
  return served;
}

function searchParams(resourceType: string): FhirJson[] {
  const descriptor = patientDataDescriptor(resourceType);
  if (descriptor === undefined) return [];
  return searchParametersOf(descriptor).flatMap((name) => {
    const type = PARAMETER_TYPES[name];
    return type === undefined ? [] : [{ name, type }];
  });
}

function operationDefinition(name: string): string {
  const definition = OPERATION_DEFINITIONS[name];
  // Routes are written by us: an operation without a definition is a programming error.
  if (definition === undefined) throw new ConfigError(`no OperationDefinition for $${name}`);
  return definition;
}

function resourceEntry(resourceType: string, entry: Served): FhirJson {
  const interactions = (['read', 'search-type'] as const).filter((code) =>
    entry.interactions.has(code),
  );
  const searched = entry.interactions.has('search-type');
  return {
    type: resourceType,
    interaction: interactions.map((code) => ({ code })),
    ...(searched ? { searchParam: searchParams(resourceType) } : {}),
    ...(entry.operations.size === 0
      ? {}
      : {
          operation: [...entry.operations].sort().map((name) => ({
            name,
            definition: operationDefinition(name),
          })),
        }),
  };
}

/**
 * The CapabilityStatement of the server at `base` (the FHIR base URL): every type a FHIR route
 * reads or searches, with the search parameters the type's descriptor answers, and SMART on
 * FHIR as its security.
 */
export function capabilityStatement(
  base: string,
  routes: Readonly<Record<string, Route>> = ROUTES,
): FhirJson {
  const served = servedByRoutes(routes);
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: STATEMENT_DATE,
    kind: 'instance',
    implementation: { description: 'Healthcare ETL pipeline FHIR R4 read API', url: base },
    fhirVersion: '4.0.1',
    format: ['json', FHIR_JSON_MEDIA_TYPE],
    rest: [
      {
        mode: 'server',
        security: {
          service: [
            {
              coding: [{ system: SECURITY_SERVICE_SYSTEM, code: 'SMART-on-FHIR' }],
            },
          ],
          description:
            'Bearer JWTs with SMART scopes (user/ or system/, v2 letters or v1 read): a type the token does not cover is refused when asked for, and left out of $everything. Patient data is read only with the patient’s data-sharing consent; every read is audited.',
        },
        resource: [...served.keys()]
          .sort()
          .map((type) => resourceEntry(type, served.get(type) as Served)),
      },
    ],
  };
}
