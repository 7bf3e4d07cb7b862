/**
 * The OpenAPI 3.1 document of the HTTP API. The request schemas are the objects the
 * validators compile (lib/fhir/flatSchema.ts), so the document cannot drift from what
 * the API enforces.
 */
import { RUN_STATUSES } from '../db/repositories/ingestRuns.ts';
import { REJECTION_REASONS } from '../db/repositories/rejections.ts';
import { flatEnvelopeSchemaWith, patientRecordSchema } from '../fhir/flatSchema.ts';
import { GENDERS } from '../fhir/model.ts';
import { CORRELATION_ID_EXTENSION_URL } from '../fhir/r4/resources.ts';
import { OBSERVATION_PAGE_DEFAULT, OBSERVATION_PAGE_MAX } from '../fhir/r4/search.ts';
import { consentChangeSchema } from '../patients/consentChanges.ts';
import { INGESTIBLE_BUNDLE_TYPES } from '../pipeline/envelopes.ts';
import { SUBMISSION_OUTCOMES } from '../pipeline/stages.ts';
import { FHIR_JSON_MEDIA_TYPE, JSON_MEDIA_TYPE, NDJSON_MEDIA_TYPE } from './mediaTypes.ts';
import { PROBLEM_CONTENT_TYPE } from './problem.ts';

export interface OpenApiOptions {
  /** The base URL clients call; omitted, the document is relative to where it is served. */
  readonly serverUrl?: string;
  /** The batch limit the ingest endpoint enforces (configuration, not a constant). */
  readonly maxRecordsPerBatch: number;
}

type JsonObject = Record<string, unknown>;

export const JSON_SCHEMA_DIALECT = 'https://json-schema.org/draft/2020-12/schema';

const INGEST_SCOPE = 'system/Patient.c';
const READ_PATIENTS_SCOPE = 'user/Patient.r';
const SEARCH_OBSERVATIONS_SCOPE = 'user/Observation.s';
const CONSENT_SCOPE = 'user/Consent.u';
const AUDIT_SCOPE = 'system/AuditEvent.r';

const ref = (kind: string, name: string): JsonObject => ({ $ref: `#/components/${kind}/${name}` });
const schemaRef = (name: string): JsonObject => ref('schemas', name);
const responseRef = (name: string): JsonObject => ref('responses', name);
const parameterRef = (name: string): JsonObject => ref('parameters', name);
const headerRef = (name: string): JsonObject => ref('headers', name);

const nullable = (type: string, extra: JsonObject = {}): JsonObject => ({
  type: [type, 'null'],
  ...extra,
});

/** A copy without `$id`: embedded under components, an `$id` would rebase every `$ref` inside it. */
function withoutId(schema: Readonly<JsonObject>): JsonObject {
  return Object.fromEntries(Object.entries(schema).filter(([keyword]) => keyword !== '$id'));
}

function flatEnvelope(maxRecordsPerBatch: number): JsonObject {
  const envelope = flatEnvelopeSchemaWith(maxRecordsPerBatch);
  return {
    ...withoutId(envelope),
    description:
      'A batch of flat records. Each record is validated on its own: an invalid record becomes a rejection of the run, not a 400 for the batch.',
    properties: {
      records: { ...envelope.properties.records, items: schemaRef('PatientRecord') },
    },
  };
}

/** What intake checks of a Bundle; each entry's resource is validated on its own, in the run. */
function ingestBundle(maxRecordsPerBatch: number): JsonObject {
  return {
    type: 'object',
    description:
      'A FHIR R4 Bundle of Patient, Observation and Consent resources, linked by id or urn:uuid fullUrl. Each entry is validated on its own against R4: an invalid entry becomes a rejection of the run, other resource types are skipped (unsupported-type).',
    required: ['resourceType', 'type', 'entry'],
    properties: {
      resourceType: { const: 'Bundle' },
      type: { enum: [...INGESTIBLE_BUNDLE_TYPES] },
      entry: {
        type: 'array',
        minItems: 1,
        maxItems: maxRecordsPerBatch,
        items: {
          type: 'object',
          properties: {
            fullUrl: { type: 'string' },
            resource: { type: 'object', required: ['resourceType'] },
          },
        },
      },
    },
  };
}

/** FHIR R4 resources as the FHIR routes return them: the elements we set, the rest as R4 allows. */
function fhirSchemas(): JsonObject {
  const meta = {
    type: 'object',
    required: ['lastUpdated'],
    properties: { lastUpdated: { type: 'string', format: 'date-time' } },
  };
  const reference = {
    type: 'object',
    required: ['reference'],
    properties: { reference: { type: 'string', pattern: '^Patient/[0-9a-f-]{36}$' } },
  };
  return {
    FhirPatient: {
      type: 'object',
      description:
        'A FHIR R4 Patient: the resource as received under our id, or one built from a flat record (MR and SSN identifiers, name text, birth date, gender). Never our consent flags.',
      required: ['resourceType', 'id', 'meta'],
      properties: {
        resourceType: { const: 'Patient' },
        id: { type: 'string', format: 'uuid' },
        meta,
        identifier: { type: 'array', items: { type: 'object' } },
        name: { type: 'array', items: { type: 'object' } },
        gender: { enum: GENDERS },
        birthDate: { type: 'string' },
      },
    },
    FhirObservation: {
      type: 'object',
      description:
        'A FHIR R4 Observation as received (values, units, codes and components untouched) under our id, its subject our Patient.',
      required: ['resourceType', 'id', 'meta', 'status', 'code', 'subject'],
      properties: {
        resourceType: { const: 'Observation' },
        id: { type: 'string', format: 'uuid' },
        meta,
        status: { type: 'string' },
        code: { type: 'object' },
        subject: reference,
      },
    },
    FhirObservationSearchset: {
      type: 'object',
      description: 'A FHIR R4 searchset Bundle; `next` is present while more pages follow.',
      required: ['resourceType', 'type', 'total', 'link', 'entry'],
      properties: {
        resourceType: { const: 'Bundle' },
        type: { const: 'searchset' },
        total: { type: 'integer', minimum: 0 },
        link: {
          type: 'array',
          items: {
            type: 'object',
            required: ['relation', 'url'],
            properties: { relation: { enum: ['self', 'next'] }, url: { type: 'string' } },
          },
        },
        entry: {
          type: 'array',
          items: {
            type: 'object',
            required: ['fullUrl', 'resource', 'search'],
            properties: {
              fullUrl: { type: 'string' },
              resource: schemaRef('FhirObservation'),
              search: {
                type: 'object',
                required: ['mode'],
                properties: { mode: { const: 'match' } },
              },
            },
          },
        },
      },
    },
    OperationOutcome: {
      type: 'object',
      description:
        'A FHIR R4 OperationOutcome: the issue type follows the HTTP status; 4xx diagnostics explain, 5xx diagnostics are generic. The correlation id is in the extension.',
      required: ['resourceType', 'extension', 'issue'],
      properties: {
        resourceType: { const: 'OperationOutcome' },
        extension: {
          type: 'array',
          items: {
            type: 'object',
            required: ['url', 'valueString'],
            properties: {
              url: { const: CORRELATION_ID_EXTENSION_URL },
              valueString: { type: 'string' },
            },
          },
        },
        issue: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            required: ['severity', 'code', 'diagnostics'],
            additionalProperties: false,
            properties: {
              severity: { const: 'error' },
              code: {
                enum: [
                  'invalid',
                  'processing',
                  'login',
                  'forbidden',
                  'not-found',
                  'not-supported',
                  'conflict',
                  'deleted',
                  'too-costly',
                  'throttled',
                  'exception',
                ],
              },
              diagnostics: { type: 'string' },
            },
          },
        },
      },
    },
  };
}

function schemas(maxRecordsPerBatch: number): JsonObject {
  const validationProblem = {
    type: 'object',
    description: 'One failing location: a JSON pointer and the schema keyword, never the value.',
    required: ['path', 'keyword', 'message'],
    additionalProperties: false,
    properties: {
      path: { type: 'string', description: 'JSON pointer into the request body' },
      keyword: { type: 'string' },
      message: { type: 'string' },
    },
  };
  const problem = {
    type: 'object',
    description:
      'RFC 9457 problem details. 4xx problems carry a detail; 5xx problems only type, title, status and correlationId.',
    required: ['type', 'title', 'status', 'correlationId'],
    properties: {
      type: {
        type: 'string',
        format: 'uri',
        examples: ['urn:problem:healthcare-etl:validation-failed'],
      },
      title: { type: 'string' },
      status: { type: 'integer', minimum: 400, maximum: 599 },
      detail: { type: 'string' },
      correlationId: { type: 'string' },
      errors: { type: 'array', items: schemaRef('ValidationProblem') },
    },
  };
  const ingestAccepted = {
    type: 'object',
    required: ['runId', 'status', 'outcome', 'links'],
    additionalProperties: false,
    properties: {
      runId: { type: 'string', format: 'uuid' },
      status: { enum: RUN_STATUSES },
      outcome: {
        enum: SUBMISSION_OUTCOMES,
        description:
          'accepted: a new run takes the batch. A retry with the same Idempotency-Key and body gets that run: replayed, as it is; redriven, it had failed and is re-driven to load the batch; resumed, its execution was gone and is started again.',
      },
      links: {
        type: 'object',
        required: ['self'],
        additionalProperties: false,
        properties: { self: { type: 'string', format: 'uri-reference' } },
      },
    },
  };
  const run = {
    type: 'object',
    required: [
      'runId',
      'status',
      'currentStage',
      'counts',
      'stageTimings',
      'errorCode',
      'createdAt',
      'finishedAt',
    ],
    additionalProperties: false,
    properties: {
      runId: { type: 'string', format: 'uuid' },
      status: { enum: RUN_STATUSES },
      currentStage: nullable('string', { description: 'The last stage that committed' }),
      counts: {
        type: 'object',
        description: 'Record counts by name (received, valid, rejected, ...)',
        additionalProperties: { type: 'integer', minimum: 0 },
      },
      stageTimings: {
        type: 'object',
        description: 'Milliseconds each finished stage took, by stage',
        additionalProperties: { type: 'number', minimum: 0 },
      },
      errorCode: nullable('string', { description: 'Set when the run failed' }),
      createdAt: { type: 'string', format: 'date-time' },
      finishedAt: nullable('string', { format: 'date-time' }),
    },
  };
  const rejection = {
    type: 'object',
    required: ['recordIndex', 'resourceType', 'reason', 'details', 'stage'],
    additionalProperties: false,
    properties: {
      recordIndex: { type: 'integer', minimum: 0 },
      resourceType: nullable('string'),
      reason: { enum: REJECTION_REASONS },
      details: {
        type: 'object',
        description: 'Schema paths and keywords; never the offending values',
      },
      stage: { type: 'string' },
    },
  };
  const patient = {
    type: 'object',
    required: ['id', 'mrn', 'consent'],
    additionalProperties: false,
    properties: {
      id: { type: 'string', format: 'uuid' },
      mrn: { type: 'string' },
      name: nullable('string'),
      birthDate: nullable('string', { format: 'date' }),
      gender: { enum: [...GENDERS, null] },
      ssn: nullable('string'),
      consent: {
        type: 'object',
        required: ['dataSharing', 'research', 'recordedAt'],
        additionalProperties: false,
        properties: {
          dataSharing: { type: 'boolean' },
          research: { type: 'boolean' },
          recordedAt: { type: 'string', format: 'date-time' },
        },
      },
    },
  };
  return {
    PatientRecord: withoutId(patientRecordSchema),
    FlatEnvelope: flatEnvelope(maxRecordsPerBatch),
    IngestBundle: ingestBundle(maxRecordsPerBatch),
    Problem: problem,
    ValidationProblem: validationProblem,
    IngestAccepted: ingestAccepted,
    Run: run,
    Rejection: rejection,
    RejectionList: {
      type: 'object',
      required: ['data'],
      additionalProperties: false,
      properties: { data: { type: 'array', items: schemaRef('Rejection') } },
    },
    Patient: patient,
    PatientSearchResult: {
      type: 'object',
      required: ['data'],
      additionalProperties: false,
      properties: { data: { type: 'array', items: schemaRef('Patient') } },
    },
    Health: {
      type: 'object',
      required: ['status'],
      additionalProperties: false,
      properties: { status: { const: 'ok' } },
    },
    ConsentChange: withoutId(consentChangeSchema),
    Consent: {
      type: 'object',
      required: ['patientId', 'dataSharing', 'research', 'source', 'recordedAt', 'recordedBy'],
      additionalProperties: false,
      properties: {
        patientId: { type: 'string', format: 'uuid' },
        dataSharing: { type: 'boolean' },
        research: { type: 'boolean' },
        source: { type: 'string' },
        recordedAt: { type: 'string', format: 'date-time' },
        recordedBy: { type: 'string' },
      },
    },
    AuditEntry: {
      type: 'object',
      required: [
        'seq',
        'id',
        'at',
        'actor',
        'action',
        'resourceType',
        'outcome',
        'details',
        'prevHash',
        'hash',
      ],
      additionalProperties: false,
      properties: {
        seq: { type: 'integer', minimum: 1 },
        id: { type: 'string', format: 'uuid' },
        at: { type: 'string', format: 'date-time' },
        actor: { type: 'string' },
        action: { enum: ['CREATE', 'READ', 'UPDATE', 'DELETE', 'DENY'] },
        resourceType: { type: 'string' },
        resourceId: nullable('string'),
        runId: nullable('string', { format: 'uuid' }),
        outcome: { enum: ['success', 'denied', 'failure'] },
        details: { type: 'object', description: 'Identifiers, reasons and counts; never PHI.' },
        prevHash: { type: 'string', pattern: '^[0-9a-f]{64}$' },
        hash: { type: 'string', pattern: '^[0-9a-f]{64}$' },
      },
    },
    AuditPage: {
      type: 'object',
      required: ['data', 'links'],
      additionalProperties: false,
      properties: {
        data: { type: 'array', items: schemaRef('AuditEntry') },
        links: {
          type: 'object',
          required: ['next'],
          properties: { next: nullable('string', { format: 'uri-reference' }) },
        },
      },
    },
    AuditVerification: {
      type: 'object',
      required: ['valid', 'rowsChecked', 'firstBreak', 'checkedAt'],
      additionalProperties: false,
      properties: {
        valid: { type: 'boolean' },
        rowsChecked: { type: 'integer', minimum: 0 },
        firstBreak: {
          oneOf: [
            { type: 'null' },
            {
              type: 'object',
              required: ['seq', 'problem'],
              properties: {
                seq: { type: 'integer' },
                problem: { enum: ['prev-hash-mismatch', 'hash-mismatch', 'head-mismatch'] },
              },
            },
          ],
        },
        checkedAt: { type: 'string', format: 'date-time' },
      },
    },
    ...fhirSchemas(),
    RedriveAccepted: {
      type: 'object',
      required: ['runId', 'status', 'attempt', 'links'],
      additionalProperties: false,
      properties: {
        runId: { type: 'string', format: 'uuid' },
        status: { const: 'running' },
        attempt: { type: 'integer', minimum: 1 },
        links: {
          type: 'object',
          required: ['self'],
          properties: { self: { type: 'string', format: 'uri-reference' } },
        },
      },
    },
  };
}

function problemResponse(description: string, headers: JsonObject = {}): JsonObject {
  return {
    description,
    headers: { 'X-Correlation-Id': headerRef('CorrelationId'), ...headers },
    content: { [PROBLEM_CONTENT_TYPE]: { schema: schemaRef('Problem') } },
  };
}

function outcomeResponse(description: string, headers: JsonObject = {}): JsonObject {
  return {
    description,
    headers: { 'X-Correlation-Id': headerRef('CorrelationId'), ...headers },
    content: { [FHIR_JSON_MEDIA_TYPE]: { schema: schemaRef('OperationOutcome') } },
  };
}

function fhirOkResponse(description: string, schema: JsonObject): JsonObject {
  return {
    description,
    headers: { 'X-Correlation-Id': headerRef('CorrelationId') },
    content: { [FHIR_JSON_MEDIA_TYPE]: { schema } },
  };
}

function jsonContent(schema: JsonObject): JsonObject {
  return { [JSON_MEDIA_TYPE]: { schema } };
}

function okResponse(description: string, schema: JsonObject): JsonObject {
  return {
    description,
    headers: { 'X-Correlation-Id': headerRef('CorrelationId') },
    content: jsonContent(schema),
  };
}

const components = (maxRecordsPerBatch: number): JsonObject => ({
  schemas: schemas(maxRecordsPerBatch),
  securitySchemes: {
    bearer: {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
      description: [
        'A JWT access token carrying SMART on FHIR scopes (v2 letters or v1 words):',
        `\`${INGEST_SCOPE}\` (or \`system/Patient.write\`) to submit batches and read their runs;`,
        `\`${READ_PATIENTS_SCOPE}\` (or \`user/Patient.read\`) to read patients and runs;`,
        `\`${SEARCH_OBSERVATIONS_SCOPE}\` (granted by \`user/Observation.rs\` or \`user/Observation.read\`) to search observations;`,
        `\`${CONSENT_SCOPE}\` to change consent; \`${AUDIT_SCOPE}\` to read and verify the audit log.`,
      ].join(' '),
    },
  },
  parameters: {
    CorrelationId: {
      name: 'X-Correlation-Id',
      in: 'header',
      required: false,
      description:
        'Echoed back and written to every log line of the request; replaced by a server id when malformed.',
      schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{8,128}$' },
    },
    RunId: {
      name: 'runId',
      in: 'path',
      required: true,
      schema: { type: 'string', format: 'uuid' },
    },
    PatientId: {
      name: 'id',
      in: 'path',
      required: true,
      schema: { type: 'string', format: 'uuid' },
    },
    FhirSearchPatient: {
      name: 'patient',
      in: 'query',
      required: false,
      description:
        'The patient whose observations to list: `<id>` or `Patient/<id>`. One of `patient`, `subject` or `subject:Patient` is required; searching every patient is not allowed.',
      schema: { type: 'string' },
    },
    FhirSearchSubject: {
      name: 'subject',
      in: 'query',
      required: false,
      description: 'Instead of `patient`: `Patient/<id>` (or `subject:Patient=<id>`).',
      schema: { type: 'string' },
    },
    FhirCount: {
      name: '_count',
      in: 'query',
      required: false,
      schema: {
        type: 'integer',
        minimum: 1,
        maximum: OBSERVATION_PAGE_MAX,
        default: OBSERVATION_PAGE_DEFAULT,
      },
    },
    FhirCursor: {
      name: '_cursor',
      in: 'query',
      required: false,
      description: 'Opaque: taken from the `next` link of the previous page.',
      schema: { type: 'string' },
    },
    IdempotencyKey: {
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      description:
        'Kept 24 hours per caller: the same key with the same body answers with the same run; with another body, 422.',
      schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' },
    },
    AuditPatient: {
      name: 'patient',
      in: 'query',
      required: false,
      schema: { type: 'string', format: 'uuid' },
    },
    AuditActor: {
      name: 'actor',
      in: 'query',
      required: false,
      schema: { type: 'string', maxLength: 256 },
    },
    AuditAction: {
      name: 'action',
      in: 'query',
      required: false,
      description: 'Comma-separated: CREATE, READ, UPDATE, DELETE, DENY',
      schema: { type: 'string' },
    },
    AuditFrom: {
      name: 'from',
      in: 'query',
      required: false,
      schema: { type: 'string', format: 'date-time' },
    },
    AuditTo: {
      name: 'to',
      in: 'query',
      required: false,
      schema: { type: 'string', format: 'date-time' },
    },
    AuditLimit: {
      name: 'limit',
      in: 'query',
      required: false,
      schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    },
    AuditCursor: { name: 'cursor', in: 'query', required: false, schema: { type: 'string' } },
    Mrn: {
      name: 'mrn',
      in: 'query',
      required: true,
      description: 'The medical record number, matched exactly',
      schema: { type: 'string', minLength: 1, maxLength: 64 },
    },
  },
  headers: {
    CorrelationId: {
      description: 'The correlation id of the request, as logged',
      schema: { type: 'string' },
    },
    Location: {
      description: 'The URL of the created run',
      schema: { type: 'string', format: 'uri-reference' },
    },
    WwwAuthenticate: {
      description: 'The bearer challenge (RFC 6750)',
      schema: { type: 'string' },
    },
    RetryAfter: {
      description: 'Seconds to wait before calling again',
      schema: { type: 'integer', minimum: 1 },
    },
  },
  responses: {
    BadRequest: problemResponse('The request is malformed; `errors` lists the failing paths.'),
    Unauthorized: problemResponse('No valid bearer token.', {
      'WWW-Authenticate': headerRef('WwwAuthenticate'),
    }),
    Forbidden: problemResponse('The token lacks the required scope.', {
      'WWW-Authenticate': headerRef('WwwAuthenticate'),
    }),
    NotFound: problemResponse('No such resource, or none the caller may see.'),
    ContentTooLarge: problemResponse('The body exceeds the size limit.'),
    UnsupportedMediaType: problemResponse('The Content-Type or its charset is not accepted.'),
    InternalError: problemResponse('The request failed; quote the correlation id.'),
    ServiceUnavailable: problemResponse(
      'A dependency (the database, the key service, the workflow service, the token issuer) is unavailable; retry after Retry-After.',
      { 'Retry-After': headerRef('RetryAfter') },
    ),
    Conflict: problemResponse('The request conflicts with the current state.'),
    UnprocessableContent: problemResponse('The Idempotency-Key was used with a different body.'),
    TooManyRequests: problemResponse('The token used up its request rate.', {
      'Retry-After': headerRef('RetryAfter'),
    }),
    FhirBadRequest: outcomeResponse('The search is malformed; one issue per failing parameter.'),
    FhirUnauthorized: outcomeResponse('No valid bearer token.', {
      'WWW-Authenticate': headerRef('WwwAuthenticate'),
    }),
    FhirForbidden: outcomeResponse(
      'The token lacks the required scope, or the patient has not consented to data sharing (audited).',
      { 'WWW-Authenticate': headerRef('WwwAuthenticate') },
    ),
    FhirNotFound: outcomeResponse('No such patient (audited).'),
    FhirTooManyRequests: outcomeResponse('The token used up its request rate.', {
      'Retry-After': headerRef('RetryAfter'),
    }),
    FhirInternalError: outcomeResponse('The request failed; quote the correlation id.'),
    FhirServiceUnavailable: outcomeResponse(
      'A dependency (the database, the key service, the token issuer) is unavailable; retry after Retry-After.',
      { 'Retry-After': headerRef('RetryAfter') },
    ),
  },
});

const ingestSecurity = [{ bearer: [INGEST_SCOPE] }];
const runSecurity = [{ bearer: [INGEST_SCOPE] }, { bearer: [READ_PATIENTS_SCOPE] }];
const patientSecurity = [{ bearer: [READ_PATIENTS_SCOPE] }];

/** Every authenticated route checks its token and rate limit against services that can be down: 503. */
const authenticatedErrors = {
  '401': responseRef('Unauthorized'),
  '403': responseRef('Forbidden'),
  '429': responseRef('TooManyRequests'),
  '500': responseRef('InternalError'),
  '503': responseRef('ServiceUnavailable'),
};
const fhirErrors = {
  '401': responseRef('FhirUnauthorized'),
  '403': responseRef('FhirForbidden'),
  '404': responseRef('FhirNotFound'),
  '429': responseRef('FhirTooManyRequests'),
  '500': responseRef('FhirInternalError'),
  '503': responseRef('FhirServiceUnavailable'),
};
const observationSecurity = [{ bearer: [SEARCH_OBSERVATIONS_SCOPE] }];
const consentSecurity = [{ bearer: [CONSENT_SCOPE] }];
const auditSecurity = [{ bearer: [AUDIT_SCOPE] }];

const paths = (maxRecordsPerBatch: number): JsonObject => ({
  '/api/v1/ingest': {
    post: {
      operationId: 'ingestBatch',
      tags: ['ingest'],
      summary: 'Submit a batch of patient records',
      description: `Stores the batch encrypted and starts a pipeline run. At most ${maxRecordsPerBatch} records a batch: flat records, Bundle entries or NDJSON lines. Under application/json a body with a resourceType is read as a FHIR Bundle.`,
      security: ingestSecurity,
      parameters: [parameterRef('IdempotencyKey'), parameterRef('CorrelationId')],
      requestBody: {
        required: true,
        content: {
          [JSON_MEDIA_TYPE]: {
            schema: { oneOf: [schemaRef('FlatEnvelope'), schemaRef('IngestBundle')] },
          },
          [FHIR_JSON_MEDIA_TYPE]: { schema: schemaRef('IngestBundle') },
          [NDJSON_MEDIA_TYPE]: {
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
        ...authenticatedErrors,
        '413': responseRef('ContentTooLarge'),
        '415': responseRef('UnsupportedMediaType'),
        '422': responseRef('UnprocessableContent'),
      },
    },
  },
  '/api/v1/runs/{runId}/redrive': {
    post: {
      operationId: 'redriveRun',
      tags: ['runs'],
      summary: 'Run a failed run again from where it failed',
      description: 'The stages that committed before the failure are not repeated.',
      security: ingestSecurity,
      parameters: [parameterRef('RunId'), parameterRef('CorrelationId')],
      responses: {
        '202': okResponse('The run is running again.', schemaRef('RedriveAccepted')),
        ...authenticatedErrors,
        '404': responseRef('NotFound'),
        '409': responseRef('Conflict'),
      },
    },
  },
  '/api/v1/patients/{id}/consent': {
    put: {
      operationId: 'changeConsent',
      tags: ['patients'],
      summary: 'Grant or revoke data-sharing and research consent',
      description:
        'Kept in the consent history (who, when, what, source) and audited; the next read obeys it. A decision older than the one on record is refused (409).',
      security: consentSecurity,
      parameters: [parameterRef('PatientId'), parameterRef('CorrelationId')],
      requestBody: { required: true, content: jsonContent(schemaRef('ConsentChange')) },
      responses: {
        '200': okResponse('The consent now on record.', schemaRef('Consent')),
        '400': responseRef('BadRequest'),
        ...authenticatedErrors,
        '404': responseRef('NotFound'),
        '409': responseRef('Conflict'),
        '415': responseRef('UnsupportedMediaType'),
      },
    },
  },
  '/api/v1/audit': {
    get: {
      operationId: 'listAudit',
      tags: ['audit'],
      summary: 'Audit entries by patient, actor, action and time, a page at a time',
      description:
        'Entries carry identifiers, reasons and counts, never PHI. Reading them is audited too.',
      security: auditSecurity,
      parameters: [
        parameterRef('AuditPatient'),
        parameterRef('AuditActor'),
        parameterRef('AuditAction'),
        parameterRef('AuditFrom'),
        parameterRef('AuditTo'),
        parameterRef('AuditLimit'),
        parameterRef('AuditCursor'),
        parameterRef('CorrelationId'),
      ],
      responses: {
        '200': okResponse('A page of entries in chain order.', schemaRef('AuditPage')),
        '400': responseRef('BadRequest'),
        ...authenticatedErrors,
      },
    },
  },
  '/api/v1/audit/verify': {
    get: {
      operationId: 'verifyAudit',
      tags: ['audit'],
      summary: 'Walk the hash chain and report the first broken link',
      security: auditSecurity,
      parameters: [parameterRef('CorrelationId')],
      responses: {
        '200': okResponse('The verification.', schemaRef('AuditVerification')),
        ...authenticatedErrors,
      },
    },
  },
  '/api/v1/runs/{runId}': {
    get: {
      operationId: 'getRun',
      tags: ['runs'],
      summary: 'Status, counts and stage timings of a run',
      security: runSecurity,
      parameters: [parameterRef('RunId'), parameterRef('CorrelationId')],
      responses: {
        '200': okResponse('The run.', schemaRef('Run')),
        '400': responseRef('BadRequest'),
        ...authenticatedErrors,
        '404': responseRef('NotFound'),
      },
    },
  },
  '/api/v1/runs/{runId}/rejections': {
    get: {
      operationId: 'listRunRejections',
      tags: ['runs'],
      summary: 'The records a run rejected, with reasons and schema paths',
      security: runSecurity,
      parameters: [parameterRef('RunId'), parameterRef('CorrelationId')],
      responses: {
        '200': okResponse('The run’s rejections, in record order.', schemaRef('RejectionList')),
        '400': responseRef('BadRequest'),
        ...authenticatedErrors,
        '404': responseRef('NotFound'),
      },
    },
  },
  '/api/v1/patients/{id}': {
    get: {
      operationId: 'getPatient',
      tags: ['patients'],
      summary: 'A decrypted patient, when their consent allows data sharing',
      description: 'Every read and every denial is audited.',
      security: patientSecurity,
      parameters: [parameterRef('PatientId'), parameterRef('CorrelationId')],
      responses: {
        '200': okResponse('The patient.', schemaRef('Patient')),
        ...authenticatedErrors,
        '404': responseRef('NotFound'),
      },
    },
  },
  '/api/v1/patients': {
    get: {
      operationId: 'searchPatients',
      tags: ['patients'],
      summary: 'Find a patient by MRN',
      description:
        'Only patients whose consent allows data sharing are returned; every read is audited.',
      security: patientSecurity,
      parameters: [parameterRef('Mrn'), parameterRef('CorrelationId')],
      responses: {
        '200': okResponse('The matching patients.', schemaRef('PatientSearchResult')),
        '400': responseRef('BadRequest'),
        ...authenticatedErrors,
      },
    },
  },
  '/fhir/r4/Patient/{id}': {
    get: {
      operationId: 'readFhirPatient',
      tags: ['fhir'],
      summary: 'A patient as a FHIR R4 Patient, when their consent allows data sharing',
      description: 'The same consent rule and audit as GET /api/v1/patients/{id}.',
      security: patientSecurity,
      parameters: [parameterRef('PatientId'), parameterRef('CorrelationId')],
      responses: {
        '200': fhirOkResponse('The patient.', schemaRef('FhirPatient')),
        ...fhirErrors,
      },
    },
  },
  '/fhir/r4/Observation': {
    get: {
      operationId: 'searchFhirObservations',
      tags: ['fhir'],
      summary: 'One patient’s observations as a FHIR R4 searchset Bundle',
      description:
        'Only with the patient’s data-sharing consent (403 and an audited denial otherwise). Ordered by effective time, then id, a page at a time (keyset cursor in the `next` link); every Observation returned is audited.',
      security: observationSecurity,
      parameters: [
        parameterRef('FhirSearchPatient'),
        parameterRef('FhirSearchSubject'),
        parameterRef('FhirCount'),
        parameterRef('FhirCursor'),
        parameterRef('CorrelationId'),
      ],
      responses: {
        '200': fhirOkResponse('A page of matches.', schemaRef('FhirObservationSearchset')),
        '400': responseRef('FhirBadRequest'),
        ...fhirErrors,
      },
    },
  },
  '/health': {
    get: {
      operationId: 'getHealth',
      tags: ['meta'],
      summary: 'Liveness',
      security: [],
      responses: { '200': { description: 'Alive.', content: jsonContent(schemaRef('Health')) } },
    },
  },
  '/openapi.json': {
    get: {
      operationId: 'getOpenApiDocument',
      tags: ['meta'],
      summary: 'This document',
      security: [],
      responses: {
        '200': {
          description: 'The OpenAPI 3.1 document.',
          content: jsonContent({ type: 'object' }),
        },
      },
    },
  },
  '/docs': {
    get: {
      operationId: 'getApiDocs',
      tags: ['meta'],
      summary: 'Swagger UI for this document',
      security: [],
      responses: {
        '200': {
          description: 'The Swagger UI page.',
          content: { 'text/html': { schema: { type: 'string' } } },
        },
      },
    },
  },
});

/** Builds the document afresh; callers serve it from a cold-start cache. */
export function buildOpenApiDocument(options: OpenApiOptions): Record<string, unknown> {
  const { maxRecordsPerBatch, serverUrl } = options;
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: JSON_SCHEMA_DIALECT,
    info: {
      title: 'Healthcare ETL pipeline API',
      version: '1.0.0',
      description:
        'Ingests batches of patient data into an encrypted store through a five-stage pipeline. Errors are RFC 9457 problem details, or FHIR OperationOutcome resources on the /fhir/r4 routes.',
    },
    ...(serverUrl === undefined ? {} : { servers: [{ url: serverUrl }] }),
    tags: [
      { name: 'ingest', description: 'Submitting batches' },
      { name: 'runs', description: 'Pipeline runs and their rejections' },
      { name: 'patients', description: 'Consent-checked, audited patient reads; consent changes' },
      { name: 'audit', description: 'The tamper-evident audit log' },
      {
        name: 'fhir',
        description: 'FHIR R4 reads (application/fhir+json); errors are OperationOutcome resources',
      },
      { name: 'meta', description: 'Health and documentation' },
    ],
    paths: paths(maxRecordsPerBatch),
    components: components(maxRecordsPerBatch),
  };
}
