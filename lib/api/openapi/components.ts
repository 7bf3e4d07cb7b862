/** The components of the OpenAPI document: what the operations of lib/api/routes.ts refer to. */

import { RUN_SOURCES, RUN_STATUSES } from '../../db/repositories/ingestRuns.ts';
import { SEARCH_PAGE_DEFAULT, SEARCH_PAGE_MAX } from '../../fhir/r4/search.ts';
import { PROBLEM_CONTENT_TYPE } from '../../http/problem.ts';
import { FHIR_JSON_MEDIA_TYPE } from '../../mediaTypes.ts';
import { SCOPES } from '../routes.ts';
import { RUN_PAGE_DEFAULT, RUN_PAGE_MAX } from '../runQueries.ts';
import {
  type ExampleResponseName,
  errorExample,
  exampleErrors,
  INGEST_EXAMPLES,
} from './examples.ts';
import { headerRef, type JsonObject, schemaRef } from './references.ts';
import { componentSchemas } from './schemas.ts';

function problemResponse(description: string, example: JsonObject, headers: JsonObject = {}) {
  return {
    description,
    headers: { 'X-Correlation-Id': headerRef('CorrelationId'), ...headers },
    content: { [PROBLEM_CONTENT_TYPE]: { schema: schemaRef('Problem'), example } },
  };
}

function outcomeResponse(description: string, example: JsonObject, headers: JsonObject = {}) {
  return {
    description,
    headers: { 'X-Correlation-Id': headerRef('CorrelationId'), ...headers },
    content: { [FHIR_JSON_MEDIA_TYPE]: { schema: schemaRef('OperationOutcome'), example } },
  };
}

/** Everything the operations refer to: schemas, the bearer scheme, parameters, headers, responses. */
export function components(maxRecordsPerBatch: number): JsonObject {
  const errors = exampleErrors(maxRecordsPerBatch);
  const problem = (name: ExampleResponseName) => errorExample(errors[name], 'problem+json');
  const outcome = (name: ExampleResponseName) => errorExample(errors[name], 'operation-outcome');
  return {
    schemas: componentSchemas(maxRecordsPerBatch),
    securitySchemes: {
      bearer: {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
        description: [
          'A JWT access token carrying SMART on FHIR scopes (v2 letters or v1 words):',
          `\`${SCOPES.submitBatches}\` (or \`system/Patient.write\`) to submit batches and read their runs;`,
          `\`${SCOPES.readPatients}\` (or \`user/Patient.read\`) to read patients and runs;`,
          `\`${SCOPES.searchObservations}\` (granted by \`user/Observation.rs\` or \`user/Observation.read\`) to search observations;`,
          `the other FHIR reads need \`${SCOPES.readPatients}\` or \`${SCOPES.readPatientsAsSystem}\`, and read (\`r\`) or search (\`s\`) on each type asked for (\`user/Condition.rs\`, \`user/*.read\`, \`system/*.rs\`);`,
          `\`${SCOPES.changeConsent}\` to change consent; \`${SCOPES.readAudit}\` to read and verify the audit log.`,
          `A patient app's token carries \`patient/\` scopes (\`${SCOPES.readOwnPatient}\`, \`${SCOPES.searchOwnObservations}\`, \`patient/*.rs\`) and the launch context's \`patient\` claim (our patient id), without which it is refused (401); a token with that claim reads that patient's data only, whatever its scopes: any other patient, their data and shared resources read directly answer 404, as if not on file, and so does everything of its own patient without consent.`,
          'On the embedded stack (`npm start`) make one with `npm run token -- --scope "system/Patient.c user/Patient.r"` (any of the scopes above, space-separated);',
          'on AWS, the identity provider the stack trusts (its issuer and audience are deploy parameters) issues them.',
        ].join(' '),
      },
    },
    parameters: {
      CorrelationId: {
        name: 'X-Correlation-Id',
        in: 'header',
        required: false,
        description:
          'A UUID, echoed back (in lower case) and written to every log line of the request; anything else is replaced by a fresh UUID and never logged.',
        schema: { type: 'string', format: 'uuid' },
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
          'The patient whose resources to list: `<id>` or `Patient/<id>`. `patient` (or, on types with a subject, `subject` or `subject:Patient`) is required; searching every patient is not allowed.',
        schema: { type: 'string' },
      },
      FhirSearchSubject: {
        name: 'subject',
        in: 'query',
        required: false,
        description: 'Instead of `patient`: `Patient/<id>` (or `subject:Patient=<id>`).',
        schema: { type: 'string' },
      },
      FhirResourceType: {
        name: 'type',
        in: 'path',
        required: true,
        description: 'An R4 resource type this server stores (GET /fhir/r4/metadata lists them).',
        schema: { type: 'string', pattern: '^[A-Z][A-Za-z]{1,63}$' },
      },
      FhirResourceId: {
        name: 'id',
        in: 'path',
        required: true,
        schema: { type: 'string', format: 'uuid' },
      },
      FhirDate: {
        name: 'date',
        in: 'query',
        required: false,
        description:
          'The principal date (an Observation’s effective time, a Condition’s onset, an Encounter’s start): one `YYYY`, `YYYY-MM`, `YYYY-MM-DD` or dateTime with a zone, prefixed by `eq` (the default: within the year, month, day or time given), `ge`, `gt`, `le` or `lt`; days are UTC.',
        schema: { type: 'string' },
      },
      FhirCode: {
        name: 'code',
        in: 'query',
        required: false,
        description: 'One token: `system|code`, `code` (any system) or `|code` (no system).',
        schema: { type: 'string' },
      },
      FhirCategory: {
        name: 'category',
        in: 'query',
        required: false,
        description: 'One category code, or `system|code`: matched on the code.',
        schema: { type: 'string' },
      },
      FhirStatus: {
        name: 'status',
        in: 'query',
        required: false,
        description: 'One status code.',
        schema: { type: 'string' },
      },
      FhirSince: {
        name: '_since',
        in: 'query',
        required: false,
        description: 'Only resources changed at or after this instant (with seconds and a zone).',
        schema: { type: 'string', format: 'date-time' },
      },
      FhirTypes: {
        name: '_type',
        in: 'query',
        required: false,
        description:
          'Comma-separated resource types to return (Patient, patient-data and shared types); absent, every type the token may read.',
        schema: { type: 'string' },
      },
      FhirCount: {
        name: '_count',
        in: 'query',
        required: false,
        schema: {
          type: 'integer',
          minimum: 1,
          maximum: SEARCH_PAGE_MAX,
          default: SEARCH_PAGE_DEFAULT,
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
      AuditOrder: {
        name: 'order',
        in: 'query',
        required: false,
        description: '`asc`: chain order, oldest first; `desc`: newest first.',
        schema: { type: 'string', enum: ['asc', 'desc'], default: 'asc' },
      },
      AuditVerifyFrom: {
        name: 'from',
        in: 'query',
        required: false,
        description:
          '`genesis`: recompute every row hash; `checkpoint`: only those after the latest checkpoint that verifies (fast enough per request; an edit before it that left the stored hashes alone is not seen). Seals and the checkpoint are checked either way.',
        schema: { type: 'string', enum: ['genesis', 'checkpoint'], default: 'genesis' },
      },
      AuditCursor: {
        name: 'cursor',
        in: 'query',
        required: false,
        description:
          'From the previous page’s `next` link; it names its order, and is refused (400) with the other one.',
        schema: { type: 'string' },
      },
      RunStatusFilter: {
        name: 'status',
        in: 'query',
        required: false,
        description: 'One status or more, comma-separated',
        style: 'form',
        explode: false,
        schema: { type: 'array', minItems: 1, items: { enum: RUN_STATUSES } },
      },
      RunSourceFilter: {
        name: 'source',
        in: 'query',
        required: false,
        schema: { enum: RUN_SOURCES },
      },
      RunFrom: {
        name: 'from',
        in: 'query',
        required: false,
        description: 'Runs created at or after',
        schema: { type: 'string', format: 'date-time' },
      },
      RunTo: {
        name: 'to',
        in: 'query',
        required: false,
        description: 'Runs created before',
        schema: { type: 'string', format: 'date-time' },
      },
      RunLimit: {
        name: 'limit',
        in: 'query',
        required: false,
        schema: { type: 'integer', minimum: 1, maximum: RUN_PAGE_MAX, default: RUN_PAGE_DEFAULT },
      },
      RunCursor: {
        name: 'cursor',
        in: 'query',
        required: false,
        description: 'Opaque: taken from the `next` link of the previous page.',
        schema: { type: 'string' },
      },
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
        description:
          'The correlation id of the request, as logged: unique to it unless the client sent its own',
        schema: { type: 'string', format: 'uuid' },
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
      BadRequest: problemResponse(
        'The request is malformed; `errors` lists the failing paths.',
        problem('BadRequest'),
      ),
      Unauthorized: problemResponse('No valid bearer token.', problem('Unauthorized'), {
        'WWW-Authenticate': headerRef('WwwAuthenticate'),
      }),
      Forbidden: problemResponse('The token lacks the required scope.', problem('Forbidden'), {
        'WWW-Authenticate': headerRef('WwwAuthenticate'),
      }),
      NotFound: problemResponse(
        'No such resource, or none the caller may see.',
        problem('NotFound'),
      ),
      RunNotFound: problemResponse('No such run.', problem('RunNotFound')),
      ContentTooLarge: problemResponse(
        'The body exceeds the size limit.',
        problem('ContentTooLarge'),
      ),
      UnsupportedMediaType: problemResponse(
        'The Content-Type or its charset is not accepted.',
        problem('UnsupportedMediaType'),
      ),
      InternalError: problemResponse(
        'The request failed; quote the correlation id.',
        problem('InternalError'),
      ),
      ServiceUnavailable: problemResponse(
        'A dependency (the database, the key service, the payload store, the workflow service, the token issuer) is unavailable; retry after Retry-After.',
        problem('ServiceUnavailable'),
        { 'Retry-After': headerRef('RetryAfter') },
      ),
      Conflict: problemResponse(
        'The request conflicts with the current state.',
        problem('Conflict'),
      ),
      UnprocessableContent: problemResponse(
        'The Idempotency-Key was used with a different body.',
        problem('UnprocessableContent'),
      ),
      TooManyRequests: problemResponse(
        'The token used up its request rate.',
        problem('TooManyRequests'),
        {
          'Retry-After': headerRef('RetryAfter'),
        },
      ),
      FhirBadRequest: outcomeResponse(
        'The search is malformed; one issue per failing parameter.',
        outcome('FhirBadRequest'),
      ),
      FhirUnauthorized: outcomeResponse('No valid bearer token.', outcome('FhirUnauthorized'), {
        'WWW-Authenticate': headerRef('WwwAuthenticate'),
      }),
      FhirForbidden: outcomeResponse(
        'The token lacks the required scope, or the patient has not consented to data sharing (audited).',
        outcome('FhirForbidden'),
        { 'WWW-Authenticate': headerRef('WwwAuthenticate') },
      ),
      FhirNotFound: outcomeResponse(
        'No such patient or resource (audited), or a type this server does not serve so.',
        outcome('FhirNotFound'),
      ),
      FhirTooManyRequests: outcomeResponse(
        'The token used up its request rate.',
        outcome('FhirTooManyRequests'),
        {
          'Retry-After': headerRef('RetryAfter'),
        },
      ),
      FhirInternalError: outcomeResponse(
        'The request failed; quote the correlation id.',
        outcome('FhirInternalError'),
      ),
      FhirServiceUnavailable: outcomeResponse(
        'A dependency (the database, the key service, the token issuer) is unavailable; retry after Retry-After.',
        outcome('FhirServiceUnavailable'),
        { 'Retry-After': headerRef('RetryAfter') },
      ),
    },
    examples: INGEST_EXAMPLES,
  };
}
