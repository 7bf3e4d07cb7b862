/**
 * Every route of the HTTP API, once: the handlers take their scopes and error format from
 * their entry, the OpenAPI paths are built from the table, and tests/unit/deploy/httpApi.test.ts
 * holds serverless.yml's httpApi events to it. Adding a route is an entry here, a handler in
 * functions/ and its serverless.yml event.
 */

import type { ErrorFormat } from '../http/problem.ts';
import { FHIR_JSON_MEDIA_TYPE, JSON_MEDIA_TYPE, NDJSON_MEDIA_TYPE } from '../mediaTypes.ts';
import {
  exampleRef,
  fhirOkResponse,
  headerRef,
  type JsonObject,
  jsonContent,
  okResponse,
  parameterRef,
  responseRef,
  schemaRef,
} from './openapi/references.ts';

/** The SMART scopes the routes require; broader scopes grant them too (lib/auth/scopes.ts). */
export const SCOPES = {
  submitBatches: 'system/Patient.c',
  readPatients: 'user/Patient.r',
  readPatientsAsSystem: 'system/Patient.r',
  searchObservations: 'user/Observation.s',
  /** A SMART patient app's: its launch patient only (the token's `patient` claim). */
  readOwnPatient: 'patient/Patient.r',
  searchOwnObservations: 'patient/Observation.s',
  changeConsent: 'user/Consent.u',
  /** A consent system (a patient portal's back end) records patients' decisions as itself. */
  changeConsentAsSystem: 'system/Consent.u',
  readAudit: 'system/AuditEvent.r',
  /** The operator: reads every tenant's runs (a tenant reads only those its subject submitted). */
  operateRuns: 'system/*.rs',
} as const;

export type HttpMethod = 'GET' | 'POST' | 'PUT';

/** What the document's text may depend on: settings, not constants. */
export interface DocumentSettings {
  readonly maxRecordsPerBatch: number;
}

/**
 * A route's OpenAPI operation, less what the builder derives from the route: the operationId
 * (its key in ROUTES), the security (from `anyOf`) and, on authenticated routes, the
 * 401, 403, 429, 500 and 503 every token check and rate limit can answer.
 */
export interface Operation {
  readonly tags: readonly string[];
  readonly summary: string;
  readonly description?: string | ((settings: DocumentSettings) => string);
  readonly parameters?: readonly JsonObject[];
  readonly requestBody?: JsonObject;
  readonly responses: Readonly<Record<string, JsonObject>>;
}

export interface Route {
  /** `*` with the path `*`: API Gateway's `$default` route, taking what no other route matches. */
  readonly method: HttpMethod | '*';
  /** API Gateway's path template, as serverless.yml's httpApi event names it. */
  readonly path: string;
  /** The serverless.yml function the route invokes. */
  readonly functionName: string;
  /** The scopes of which a token needs one, or `public`: no token and no rate limit. */
  readonly anyOf: readonly string[] | 'public';
  /** How errors are written: problem+json, or OperationOutcome on the FHIR routes. */
  readonly errors: ErrorFormat;
  /** Left out of the OpenAPI document when absent. */
  readonly operation?: Operation;
}

const RUN_READERS = [SCOPES.submitBatches, SCOPES.readPatients, SCOPES.operateRuns];
/** Who reads patients: a user, or a patient app confined to its launch patient. */
const PATIENT_READERS = [SCOPES.readPatients, SCOPES.readOwnPatient];
/**
 * What every FHIR reader holds: reading patients, as a user, a system or a patient app. Each
 * type read is checked against the token's scopes besides (lib/auth/scopes.ts canRead).
 */
const FHIR_READERS = [SCOPES.readPatients, SCOPES.readPatientsAsSystem, SCOPES.readOwnPatient];

/** Keyed by operationId, in the order the document lists them. */
export const ROUTES = {
  ingestBatch: {
    method: 'POST',
    path: '/api/v1/ingest',
    functionName: 'ingest',
    anyOf: [SCOPES.submitBatches],
    errors: 'problem+json',
    operation: {
      tags: ['ingest'],
      summary: 'Submit a batch of patient records',
      description: ({ maxRecordsPerBatch }) =>
        `Stores the batch encrypted and starts a pipeline run. At most ${maxRecordsPerBatch} records a batch: flat records, Bundle entries or NDJSON lines. Under application/json a body with a resourceType is read as a FHIR Bundle.`,
      parameters: [parameterRef('IdempotencyKey'), parameterRef('CorrelationId')],
      requestBody: {
        required: true,
        content: {
          [JSON_MEDIA_TYPE]: {
            schema: { oneOf: [schemaRef('FlatEnvelope'), schemaRef('IngestBundle')] },
            examples: {
              flatRecord: exampleRef('FlatRecord'),
              fhirBundle: exampleRef('FhirBundle'),
            },
          },
          [FHIR_JSON_MEDIA_TYPE]: {
            schema: schemaRef('IngestBundle'),
            examples: { fhirBundle: exampleRef('FhirBundle') },
          },
          [NDJSON_MEDIA_TYPE]: {
            examples: { ndjsonPair: exampleRef('NdjsonPair') },
            schema: {
              type: 'string',
              description:
                'One FHIR R4 resource per line (FHIR Bulk Data). Each line is parsed and validated on its own: a bad line becomes a rejection of the run, naming its position.',
            },
          },
        },
      },
      responses: {
        '202': {
          description: 'The batch is accepted and its run queued.',
          headers: {
            Location: headerRef('Location'),
            'X-Correlation-Id': headerRef('CorrelationId'),
          },
          content: jsonContent(schemaRef('IngestAccepted')),
        },
        '400': responseRef('BadRequest'),
        '413': responseRef('ContentTooLarge'),
        '415': responseRef('UnsupportedMediaType'),
        '422': responseRef('UnprocessableContent'),
      },
    },
  },
  redriveRun: {
    method: 'POST',
    path: '/api/v1/runs/{runId}/redrive',
    functionName: 'redriveRun',
    anyOf: [SCOPES.submitBatches],
    errors: 'problem+json',
    operation: {
      tags: ['runs'],
      summary: 'Run a failed run again from where it failed',
      description:
        'The stages that committed before the failure are not repeated. The submitter’s own run, or any run for a token that also holds system/*.rs; another tenant’s run is a 404.',
      parameters: [parameterRef('RunId'), parameterRef('CorrelationId')],
      responses: {
        '202': okResponse('The run is running again.', schemaRef('RedriveAccepted')),
        '404': responseRef('RunNotFound'),
        '409': responseRef('Conflict'),
      },
    },
  },
  changeConsent: {
    method: 'PUT',
    path: '/api/v1/patients/{id}/consent',
    functionName: 'putConsent',
    // Never patient/: a patient app would decide for its launch patient with no one in between.
    anyOf: [SCOPES.changeConsent, SCOPES.changeConsentAsSystem],
    errors: 'problem+json',
    operation: {
      tags: ['patients'],
      summary: 'Grant or revoke data-sharing and research consent',
      description:
        'Kept in the consent history (who, when, what, source) and audited with the token subject and the source; the next read obeys it. A refusal stands until a grant dated after it: a grant dated no later than the refusal on record, or any decision older than an explicit one on record, is refused (409) and audited as a denial.',
      parameters: [parameterRef('PatientId'), parameterRef('CorrelationId')],
      requestBody: { required: true, content: jsonContent(schemaRef('ConsentChange')) },
      responses: {
        '200': okResponse('The consent now on record.', schemaRef('Consent')),
        '400': responseRef('BadRequest'),
        '404': responseRef('NotFound'),
        '409': responseRef('Conflict'),
        '415': responseRef('UnsupportedMediaType'),
      },
    },
  },
  listAudit: {
    method: 'GET',
    path: '/api/v1/audit',
    functionName: 'listAudit',
    anyOf: [SCOPES.readAudit],
    errors: 'problem+json',
    operation: {
      tags: ['audit'],
      summary: 'Audit entries by patient, actor, action and time, a page at a time',
      description:
        'Entries carry identifiers, reasons and counts, never PHI. Reading them is audited too. In chain order by default, newest first with `order=desc`; keyset paging (the `next` link) in either.',
      parameters: [
        parameterRef('AuditPatient'),
        parameterRef('AuditActor'),
        parameterRef('AuditAction'),
        parameterRef('AuditFrom'),
        parameterRef('AuditTo'),
        parameterRef('AuditOrder'),
        parameterRef('AuditLimit'),
        parameterRef('AuditCursor'),
        parameterRef('CorrelationId'),
      ],
      responses: {
        '200': okResponse('A page of entries in the order asked for.', schemaRef('AuditPage')),
        '400': responseRef('BadRequest'),
      },
    },
  },
  verifyAudit: {
    method: 'GET',
    path: '/api/v1/audit/verify',
    functionName: 'verifyAudit',
    anyOf: [SCOPES.readAudit],
    errors: 'problem+json',
    operation: {
      tags: ['audit'],
      summary: 'Verify the hash chain against its seals and the latest checkpoint',
      description:
        'Each finding is its own problem: edited, recomputed, truncated, unsealed, checkpoint-forged. Rows newer than the latest checkpoint can be deleted, with their seals, unnoticed.',
      parameters: [parameterRef('AuditVerifyFrom'), parameterRef('CorrelationId')],
      responses: {
        '200': okResponse('The verification.', schemaRef('AuditVerification')),
      },
    },
  },
  listRuns: {
    method: 'GET',
    path: '/api/v1/runs',
    functionName: 'listRuns',
    anyOf: RUN_READERS,
    errors: 'problem+json',
    operation: {
      tags: ['runs'],
      summary: 'Runs newest first, by status, source and creation time, a page at a time',
      description:
        'The runs the token’s subject submitted (every tenant’s with system/*.rs), each as GET /api/v1/runs/{runId} shows it: status, stage, source, submitter, counts, rejections by reason, duration and records per second; never a record’s content. Ordered by creation time, then id, both descending; keyset paging (the `next` link).',
      parameters: [
        parameterRef('RunStatusFilter'),
        parameterRef('RunSourceFilter'),
        parameterRef('RunFrom'),
        parameterRef('RunTo'),
        parameterRef('RunLimit'),
        parameterRef('RunCursor'),
        parameterRef('CorrelationId'),
      ],
      responses: {
        '200': okResponse('A page of runs, newest first.', schemaRef('RunPage')),
        '400': responseRef('BadRequest'),
      },
    },
  },
  getRun: {
    method: 'GET',
    path: '/api/v1/runs/{runId}',
    functionName: 'getRun',
    anyOf: RUN_READERS,
    errors: 'problem+json',
    operation: {
      tags: ['runs'],
      summary: 'Status, counts and stage timings of a run',
      description:
        'A run belongs to the subject whose token submitted it; another tenant’s run is a 404 like an unknown one. A token with system/*.rs sees every run.',
      parameters: [parameterRef('RunId'), parameterRef('CorrelationId')],
      responses: {
        '200': okResponse('The run.', schemaRef('Run')),
        '400': responseRef('BadRequest'),
        '404': responseRef('RunNotFound'),
      },
    },
  },
  listRunRejections: {
    method: 'GET',
    path: '/api/v1/runs/{runId}/rejections',
    functionName: 'listRunRejections',
    anyOf: RUN_READERS,
    errors: 'problem+json',
    operation: {
      tags: ['runs'],
      summary: 'The records a run rejected, with reasons and schema paths',
      parameters: [parameterRef('RunId'), parameterRef('CorrelationId')],
      responses: {
        '200': okResponse('The run’s rejections, in record order.', schemaRef('RejectionList')),
        '400': responseRef('BadRequest'),
        '404': responseRef('RunNotFound'),
      },
    },
  },
  getRunHistory: {
    method: 'GET',
    path: '/api/v1/runs/{runId}/history',
    functionName: 'getRunHistory',
    anyOf: RUN_READERS,
    errors: 'problem+json',
    operation: {
      tags: ['runs'],
      summary: 'The events of the run’s executions, as Step Functions recorded them',
      description:
        'Each event’s type, time, state and error name, execution by execution (attempt 0, then each re-drive); never a state’s input or output, nor an error’s cause. Only the latest executions are read, and the first events of each: the response tells how many older attempts were left out and which attempts were cut short.',
      parameters: [parameterRef('RunId'), parameterRef('CorrelationId')],
      responses: {
        '200': okResponse('The events, in order.', schemaRef('RunHistory')),
        '400': responseRef('BadRequest'),
        '404': responseRef('RunNotFound'),
      },
    },
  },
  getPatient: {
    method: 'GET',
    path: '/api/v1/patients/{id}',
    functionName: 'getPatient',
    anyOf: PATIENT_READERS,
    errors: 'problem+json',
    operation: {
      tags: ['patients'],
      summary: 'A decrypted patient, when their consent allows data sharing',
      description:
        'Every read and every denial is audited. A token with a launch context reads its patient only: another id, or its own patient without consent, answers 404 like an id not on file.',
      parameters: [parameterRef('PatientId'), parameterRef('CorrelationId')],
      responses: {
        '200': okResponse('The patient.', schemaRef('Patient')),
        '404': responseRef('NotFound'),
      },
    },
  },
  searchPatients: {
    method: 'GET',
    path: '/api/v1/patients',
    functionName: 'searchPatients',
    anyOf: PATIENT_READERS,
    errors: 'problem+json',
    operation: {
      tags: ['patients'],
      summary: 'Find a patient by MRN',
      description:
        'Only patients whose consent allows data sharing are returned (and, for a token with a launch context, only its patient): an MRN on file whose patient refused answers `{"data": []}` exactly like one not on file, being registered can itself be sensitive; the refusal is audited as a denial all the same. Every read is audited.',
      parameters: [parameterRef('Mrn'), parameterRef('CorrelationId')],
      responses: {
        '200': okResponse('The matching patients.', schemaRef('PatientSearchResult')),
        '400': responseRef('BadRequest'),
      },
    },
  },
  readFhirPatient: {
    method: 'GET',
    path: '/fhir/r4/Patient/{id}',
    functionName: 'fhirReadPatient',
    anyOf: PATIENT_READERS,
    errors: 'operation-outcome',
    operation: {
      tags: ['fhir'],
      summary: 'A patient as a FHIR R4 Patient, when their consent allows data sharing',
      description: 'The same consent rule and audit as GET /api/v1/patients/{id}.',
      parameters: [parameterRef('PatientId'), parameterRef('CorrelationId')],
      responses: {
        '200': fhirOkResponse('The patient.', schemaRef('FhirPatient')),
        '404': responseRef('FhirNotFound'),
      },
    },
  },
  searchFhirObservations: {
    method: 'GET',
    path: '/fhir/r4/Observation',
    functionName: 'fhirSearchObservations',
    anyOf: [SCOPES.searchObservations, SCOPES.searchOwnObservations],
    errors: 'operation-outcome',
    operation: {
      tags: ['fhir'],
      summary: 'One patient’s observations as a FHIR R4 searchset Bundle',
      description:
        'As GET /fhir/r4/{type} for Observation, with the scope it always had. Only with the patient’s data-sharing consent (403 and an audited denial otherwise). Ordered by effective time, then id, a page at a time (keyset cursor in the `next` link); every Observation returned is audited.',
      parameters: [
        parameterRef('FhirSearchPatient'),
        parameterRef('FhirSearchSubject'),
        parameterRef('FhirDate'),
        parameterRef('FhirCode'),
        parameterRef('FhirCategory'),
        parameterRef('FhirStatus'),
        parameterRef('FhirCount'),
        parameterRef('FhirCursor'),
        parameterRef('CorrelationId'),
      ],
      responses: {
        '200': fhirOkResponse('A page of matches.', schemaRef('FhirObservationSearchset')),
        '400': responseRef('FhirBadRequest'),
        '404': responseRef('FhirNotFound'),
      },
    },
  },
  getFhirMetadata: {
    method: 'GET',
    path: '/fhir/r4/metadata',
    functionName: 'fhirMetadata',
    anyOf: 'public',
    errors: 'operation-outcome',
    operation: {
      tags: ['fhir'],
      summary: 'The server’s FHIR R4 CapabilityStatement',
      description:
        'Built from this route table and the per-type descriptors: each type read, each type searched with its parameters, Patient $everything, SMART on FHIR security.',
      responses: {
        '200': fhirOkResponse('The CapabilityStatement.', schemaRef('FhirCapabilityStatement')),
      },
    },
  },
  readFhirResource: {
    method: 'GET',
    path: '/fhir/r4/{type}/{id}',
    functionName: 'fhirRead',
    anyOf: FHIR_READERS,
    errors: 'operation-outcome',
    operation: {
      tags: ['fhir'],
      summary: 'Any stored resource by type and id, as sent, under our ids',
      description:
        'The token needs read (`r`) on the type (`user/Condition.r`, `user/*.rs`, `system/*.read`), else 403. Patient data only with its patient’s data-sharing consent (403 and an audited denial otherwise); shared resources (Practitioner, Organization, Location, …) without. References to stored resources point at our ids; others stay as sent. Every read is audited.',
      parameters: [
        parameterRef('FhirResourceType'),
        parameterRef('FhirResourceId'),
        parameterRef('CorrelationId'),
      ],
      responses: {
        '200': fhirOkResponse('The resource.', schemaRef('FhirResource')),
        '404': responseRef('FhirNotFound'),
      },
    },
  },
  searchFhirResources: {
    method: 'GET',
    path: '/fhir/r4/{type}',
    functionName: 'fhirSearch',
    anyOf: FHIR_READERS,
    errors: 'operation-outcome',
    operation: {
      tags: ['fhir'],
      summary: 'One patient’s resources of a type as a FHIR R4 searchset Bundle',
      description:
        'For every patient-data type (404 for others). The token needs search (`s`) on the type. Only with the patient’s data-sharing consent (403 and an audited denial otherwise). date, code, category and status where the type has them (GET /fhir/r4/metadata lists them); ordered by the type’s principal date, then id, a page at a time; every resource returned is audited.',
      parameters: [
        parameterRef('FhirResourceType'),
        parameterRef('FhirSearchPatient'),
        parameterRef('FhirSearchSubject'),
        parameterRef('FhirDate'),
        parameterRef('FhirCode'),
        parameterRef('FhirCategory'),
        parameterRef('FhirStatus'),
        parameterRef('FhirCount'),
        parameterRef('FhirCursor'),
        parameterRef('CorrelationId'),
      ],
      responses: {
        '200': fhirOkResponse('A page of matches.', schemaRef('FhirSearchset')),
        '400': responseRef('FhirBadRequest'),
        '404': responseRef('FhirNotFound'),
      },
    },
  },
  readFhirPatientEverything: {
    method: 'GET',
    path: '/fhir/r4/Patient/{id}/$everything',
    functionName: 'fhirEverything',
    anyOf: FHIR_READERS,
    errors: 'operation-outcome',
    operation: {
      tags: ['fhir'],
      summary: 'A patient and everything of their compartment, a page at a time',
      description:
        'Only with the patient’s data-sharing consent (403 and an audited denial otherwise). The Patient (first page), then their resources by type, principal date and id, of the types the token may read (others are left out) and `_type` names, changed since `_since`; the shared resources they reference are included beside them. One READ audit row per resource returned.',
      parameters: [
        parameterRef('PatientId'),
        parameterRef('FhirSince'),
        parameterRef('FhirTypes'),
        parameterRef('FhirCount'),
        parameterRef('FhirCursor'),
        parameterRef('CorrelationId'),
      ],
      responses: {
        '200': fhirOkResponse('A page of the compartment.', schemaRef('FhirSearchset')),
        '400': responseRef('FhirBadRequest'),
        '404': responseRef('FhirNotFound'),
      },
    },
  },
  getHealth: {
    method: 'GET',
    path: '/health',
    functionName: 'health',
    anyOf: 'public',
    errors: 'problem+json',
    operation: {
      tags: ['meta'],
      summary: 'Liveness',
      responses: { '200': { description: 'Alive.', content: jsonContent(schemaRef('Health')) } },
    },
  },
  getOpenApiDocument: {
    method: 'GET',
    path: '/openapi.json',
    functionName: 'openapi',
    anyOf: 'public',
    errors: 'problem+json',
    operation: {
      tags: ['meta'],
      summary: 'This document',
      responses: {
        '200': {
          description: 'The OpenAPI 3.1 document.',
          content: jsonContent({ type: 'object' }),
        },
      },
    },
  },
  getApiDocs: {
    method: 'GET',
    path: '/docs',
    functionName: 'docs',
    anyOf: 'public',
    errors: 'problem+json',
    operation: {
      tags: ['meta'],
      summary: 'Swagger UI for this document',
      responses: {
        '200': {
          description: 'The Swagger UI page.',
          content: { 'text/html': { schema: { type: 'string' } } },
        },
      },
    },
  },
  // The page's own scripts and styles: part of /docs, not an operation of the API.
  getApiDocsAsset: {
    method: 'GET',
    path: '/docs/assets/{asset}',
    functionName: 'docs',
    anyOf: 'public',
    errors: 'problem+json',
  },
  getConsole: {
    method: 'GET',
    path: '/console',
    functionName: 'console',
    anyOf: 'public',
    errors: 'problem+json',
    operation: {
      tags: ['meta'],
      summary: 'The runs console: runs, each run on the state machine, throughput and audit',
      description:
        'A static page: it reads the run, rejection and audit routes with a bearer token pasted into it, so it shows no PHI.',
      responses: {
        '200': {
          description: 'The console page.',
          content: { 'text/html': { schema: { type: 'string' } } },
        },
      },
    },
  },
  // The console's bundled script and stylesheet: part of /console, not an operation of the API.
  getConsoleAsset: {
    method: 'GET',
    path: '/console/assets/{asset}',
    functionName: 'console',
    anyOf: 'public',
    errors: 'problem+json',
  },
  // What no other route matches (serverless.yml's httpApi '*'): a 404 like every other error.
  routeNotFound: {
    method: '*',
    path: '*',
    functionName: 'notFound',
    anyOf: 'public',
    errors: 'problem+json',
  },
} satisfies Readonly<Record<string, Route>>;

export type RouteName = keyof typeof ROUTES;

/** The route's key as API Gateway names it: `GET /health`, or `$default` for the `*` route. */
export function routeKeyOf(route: Pick<Route, 'method' | 'path'>): string {
  return route.method === '*' ? '$default' : `${route.method} ${route.path}`;
}

/**
 * Every scope some route requires but the patient/ ones: what a token for all of the API
 * carries (a patient/ scope needs a launch patient, which would confine the token to them).
 */
export const ROUTE_SCOPES: readonly string[] = [
  ...new Set(
    Object.values(ROUTES).flatMap((route: Route) =>
      route.anyOf === 'public' ? [] : route.anyOf.filter((scope) => !scope.startsWith('patient/')),
    ),
  ),
];
