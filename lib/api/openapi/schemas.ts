/**
 * The schemas of the OpenAPI document. The request schemas are the objects the validators
 * compile (lib/fhir/flatSchema.ts), so the document cannot drift from what the API enforces.
 */

import { AUDIT_PROBLEMS } from '../../audit/auditQueries.ts';
import { RUN_SOURCES, RUN_STATUSES } from '../../db/repositories/ingestRuns.ts';
import { REJECTION_REASONS } from '../../db/repositories/rejections.ts';
import { flatEnvelopeSchemaWith, patientRecordSchema } from '../../fhir/flatSchema.ts';
import { GENDERS } from '../../fhir/model.ts';
import { CORRELATION_ID_EXTENSION_URL } from '../../fhir/r4/resources.ts';
import { consentChangeSchema } from '../../patients/consentChanges.ts';
import { INGESTIBLE_BUNDLE_TYPES } from '../../pipeline/envelopes.ts';
import { STAGES, SUBMISSION_OUTCOMES } from '../../pipeline/stages.ts';
import { MAX_ATTEMPTS_READ, MAX_EVENTS_PER_ATTEMPT } from '../runHistory.ts';
import { EXAMPLE_RUN_ID, EXAMPLE_RUN_LINK } from './examples.ts';
import { type JsonObject, schemaRef } from './references.ts';

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
/** A searchset Bundle of `resource`s, each entry's search mode one `mode` allows. */
function searchsetSchema(description: string, resource: string, mode: JsonObject): JsonObject {
  return {
    type: 'object',
    description,
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
            resource: schemaRef(resource),
            search: { type: 'object', required: ['mode'], properties: { mode } },
          },
        },
      },
    },
  };
}

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
    FhirResource: {
      type: 'object',
      description:
        'A FHIR R4 resource as received under our id and lastUpdated; references to stored resources point at our ids (`Encounter/<id>`), others stay as sent.',
      required: ['resourceType', 'id', 'meta'],
      properties: {
        resourceType: { type: 'string', pattern: '^[A-Z][A-Za-z]{1,63}$' },
        id: { type: 'string', format: 'uuid' },
        meta,
      },
    },
    FhirSearchset: searchsetSchema(
      'A FHIR R4 searchset Bundle: the matches, then (for $everything) the shared resources they reference in mode include; `next` is present while more pages follow.',
      'FhirResource',
      { enum: ['match', 'include'] },
    ),
    FhirCapabilityStatement: {
      type: 'object',
      description:
        'A FHIR R4 CapabilityStatement (kind instance, fhirVersion 4.0.1): each resource type with its interactions, search parameters and operations.',
      required: ['resourceType', 'status', 'date', 'kind', 'fhirVersion', 'format', 'rest'],
      properties: {
        resourceType: { const: 'CapabilityStatement' },
        status: { const: 'active' },
        kind: { const: 'instance' },
        fhirVersion: { const: '4.0.1' },
        format: { type: 'array', items: { type: 'string' } },
        rest: { type: 'array', items: { type: 'object' } },
      },
    },
    FhirObservationSearchset: searchsetSchema(
      'A FHIR R4 searchset Bundle; `next` is present while more pages follow.',
      'FhirObservation',
      { const: 'match' },
    ),
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

/** The component schemas: the validators' own JSON Schemas, and what the routes answer with. */
export function componentSchemas(maxRecordsPerBatch: number): JsonObject {
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
    examples: [
      {
        runId: EXAMPLE_RUN_ID,
        status: 'queued',
        outcome: 'accepted',
        links: { self: EXAMPLE_RUN_LINK },
      },
    ],
  };
  const run = {
    type: 'object',
    required: [
      'runId',
      'status',
      'currentStage',
      'failedStage',
      'source',
      'submitter',
      'counts',
      'rejectedByReason',
      'stageTimings',
      'errorCode',
      'createdAt',
      'finishedAt',
      'durationMs',
      'recordsPerSecond',
      'links',
    ],
    additionalProperties: false,
    properties: {
      runId: { type: 'string', format: 'uuid' },
      status: { enum: RUN_STATUSES },
      currentStage: nullable('string', {
        enum: [...STAGES, null],
        description:
          'While the run is queued or running, the stage it is in or waits for (the first that has not committed); null once it has ended.',
      }),
      failedStage: nullable('string', {
        enum: [...STAGES, null],
        description:
          'For a failed run, the stage it failed in (the first that had not committed); null otherwise, and when no stage ran (its workflow never started).',
      }),
      source: { enum: RUN_SOURCES, description: 'How the batch came in' },
      submitter: { type: 'string', description: 'The subject of the token that submitted it' },
      counts: {
        type: 'object',
        description: 'Record counts by name (received, valid, rejected, loaded, ...)',
        additionalProperties: { type: 'integer', minimum: 0 },
      },
      rejectedByReason: {
        type: 'object',
        description: 'Rejected records counted by reason; a reason that rejected none is absent',
        propertyNames: { enum: REJECTION_REASONS },
        additionalProperties: { type: 'integer', minimum: 1 },
      },
      stageTimings: {
        type: 'object',
        description: 'Milliseconds each finished stage took, by stage',
        additionalProperties: { type: 'number', minimum: 0 },
      },
      errorCode: nullable('string', { description: 'Set when the run failed' }),
      createdAt: { type: 'string', format: 'date-time' },
      finishedAt: nullable('string', { format: 'date-time' }),
      durationMs: nullable('integer', {
        minimum: 0,
        description: 'From creation to the end, re-drives included; null until the run ends',
      }),
      recordsPerSecond: nullable('number', {
        minimum: 0,
        description: 'Records received over the duration; null until the run ends',
      }),
      links: {
        type: 'object',
        required: ['self', 'rejections'],
        additionalProperties: false,
        properties: {
          self: { type: 'string', format: 'uri-reference' },
          rejections: { type: 'string', format: 'uri-reference' },
        },
      },
    },
    examples: [
      {
        runId: EXAMPLE_RUN_ID,
        status: 'succeeded',
        currentStage: null,
        failedStage: null,
        source: 'api',
        submitter: 'system:ingest-client',
        counts: { received: 3, extracted: 3, valid: 2, invalid: 1, rejected: 1, loaded: 2 },
        rejectedByReason: { schema: 1 },
        stageTimings: { extract: 41, validate: 12, consentCheck: 18, transform: 25, load: 63 },
        errorCode: null,
        createdAt: '2030-01-01T00:00:00.000Z',
        finishedAt: '2030-01-01T00:00:01.840Z',
        durationMs: 1840,
        recordsPerSecond: 1.63,
        links: { self: EXAMPLE_RUN_LINK, rejections: `${EXAMPLE_RUN_LINK}/rejections` },
      },
    ],
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
    RunPage: {
      type: 'object',
      required: ['data', 'links'],
      additionalProperties: false,
      properties: {
        data: { type: 'array', items: schemaRef('Run') },
        links: {
          type: 'object',
          required: ['next'],
          additionalProperties: false,
          properties: { next: nullable('string', { format: 'uri-reference' }) },
        },
      },
    },
    Rejection: rejection,
    RejectionList: {
      type: 'object',
      required: ['data'],
      additionalProperties: false,
      properties: { data: { type: 'array', items: schemaRef('Rejection') } },
    },
    RunHistory: {
      type: 'object',
      required: ['data', 'olderAttemptsOmitted', 'truncatedAttempts'],
      additionalProperties: false,
      properties: {
        olderAttemptsOmitted: {
          type: 'integer',
          minimum: 0,
          description: `Only the latest ${MAX_ATTEMPTS_READ} executions are read: how many of the oldest (attempt 0 onwards) were left out`,
        },
        truncatedAttempts: {
          type: 'array',
          items: { type: 'integer', minimum: 0 },
          description: `The attempts of which only the first ${MAX_EVENTS_PER_ATTEMPT} events are listed`,
        },
        data: {
          type: 'array',
          items: {
            type: 'object',
            required: ['attempt', 'id', 'type', 'timestamp', 'stateName', 'error'],
            additionalProperties: false,
            properties: {
              attempt: {
                type: 'integer',
                minimum: 0,
                description: 'The execution: 0 the first, n the n-th re-drive',
              },
              id: { type: 'integer', description: 'The event’s id within its execution' },
              type: { type: 'string', examples: ['TaskStateEntered', 'LambdaFunctionFailed'] },
              timestamp: { type: 'string', format: 'date-time' },
              stateName: nullable('string'),
              error: nullable('string', { description: 'The error’s name; never its cause' }),
            },
          },
        },
      },
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
      required: [
        'valid',
        'rowsChecked',
        'firstBreak',
        'walkedAfter',
        'problems',
        'sealedThrough',
        'unsealedLegacyRows',
        'checkpoint',
        'checkedAt',
      ],
      additionalProperties: false,
      properties: {
        valid: { type: 'boolean', description: 'true when problems is empty' },
        rowsChecked: { type: 'integer', minimum: 0, description: 'Rows whose hash was recomputed' },
        walkedAfter: {
          type: 'integer',
          minimum: 0,
          description: 'The seq after which row hashes were recomputed: 0 for the whole chain.',
        },
        problems: {
          type: 'array',
          description:
            'Each finding on its own: edited (a row changed without recomputing), recomputed (the chain no longer matches what the MAC key sealed or checkpointed), truncated (rows gone that the head, a seal or the latest checkpoint names), unsealed (rows after the newest seal), checkpoint-forged (the latest checkpoint does not verify).',
          items: {
            type: 'object',
            required: ['problem', 'seq', 'detail'],
            additionalProperties: false,
            properties: {
              problem: { enum: [...AUDIT_PROBLEMS] },
              seq: nullable('integer'),
              detail: { type: 'string' },
            },
          },
        },
        sealedThrough: nullable('integer', {
          description: 'The seq of the newest seal; null before the first sealed statement.',
        }),
        unsealedLegacyRows: {
          type: 'integer',
          minimum: 0,
          description: 'Rows written before seals existed, with no seal since to cover them.',
        },
        checkpoint: {
          oneOf: [
            { type: 'null' },
            {
              type: 'object',
              required: ['seq', 'at'],
              additionalProperties: false,
              properties: {
                seq: { type: 'integer' },
                at: { type: 'string', format: 'date-time' },
              },
            },
          ],
        },
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
      examples: [
        { runId: EXAMPLE_RUN_ID, status: 'running', attempt: 2, links: { self: EXAMPLE_RUN_LINK } },
      ],
    },
  };
}
