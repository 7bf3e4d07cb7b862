/**
 * The examples of the OpenAPI document. Error bodies are written by the one error mapping
 * (lib/http/problem.ts) from the errors the handlers throw, so each shows what its status really
 * answers; the ingest examples are batches that load.
 */
import {
  type AppError,
  ConflictError,
  ForbiddenError,
  IdempotencyConflictError,
  InputValidationError,
  InternalError,
  NotFoundError,
  PayloadTooLargeError,
  RunNotFoundError,
  ServiceUnavailableError,
  TooManyRequestsError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
} from '../../errors.ts';
import { type ErrorFormat, problemResponse } from '../../http/problem.ts';
import { FHIR_JSON_MEDIA_TYPE, JSON_MEDIA_TYPE, NDJSON_MEDIA_TYPE } from '../../mediaTypes.ts';
import { SCOPES } from '../routes.ts';
import type { JsonObject } from './references.ts';

export const EXAMPLE_CORRELATION_ID = '6f0d2c41-93b7-4e5a-8c1d-2b7e9a4f3c60';
export const EXAMPLE_RUN_ID = '3f1c2a9e-8b7d-4c6e-9a5f-0d1e2f3a4b5c';
export const EXAMPLE_RUN_LINK = `/api/v1/runs/${EXAMPLE_RUN_ID}`;

/** The error each response component documents, as a handler throws it. */
export function exampleErrors(maxRecordsPerBatch: number) {
  return {
    BadRequest: new InputValidationError('the body is not valid JSON', [
      { path: '', keyword: 'json', message: 'the body must be one well-formed JSON value' },
    ]),
    Unauthorized: new UnauthorizedError('the request needs an Authorization: Bearer token'),
    Forbidden: new ForbiddenError(`requires one of the scopes: ${SCOPES.submitBatches}`),
    NotFound: new NotFoundError('no such patient'),
    RunNotFound: new RunNotFoundError(EXAMPLE_RUN_ID),
    ContentTooLarge: new PayloadTooLargeError(
      `a batch holds at most ${maxRecordsPerBatch} records`,
    ),
    UnsupportedMediaType: new UnsupportedMediaTypeError(
      `the Content-Type must be one of ${[JSON_MEDIA_TYPE, FHIR_JSON_MEDIA_TYPE, NDJSON_MEDIA_TYPE].join(', ')}`,
    ),
    InternalError: new InternalError('the request failed'),
    ServiceUnavailable: new ServiceUnavailableError('the database is unavailable'),
    Conflict: new ConflictError('only a failed run can be re-driven; this one is succeeded'),
    UnprocessableContent: new IdempotencyConflictError(
      'this Idempotency-Key was used with a different body',
    ),
    TooManyRequests: new TooManyRequestsError(1),
    FhirBadRequest: new InputValidationError('the Observation search is invalid', [
      { path: 'patient', keyword: 'required', message: 'patient or subject is required' },
    ]),
    FhirUnauthorized: new UnauthorizedError('the request needs an Authorization: Bearer token'),
    FhirForbidden: new ForbiddenError('the patient has not consented to data sharing'),
    FhirNotFound: new NotFoundError('no such patient'),
    FhirTooManyRequests: new TooManyRequestsError(1),
    FhirInternalError: new InternalError('the request failed'),
    FhirServiceUnavailable: new ServiceUnavailableError('the database is unavailable'),
  } satisfies Readonly<Record<string, AppError>>;
}

export type ExampleResponseName = keyof ReturnType<typeof exampleErrors>;

/** The body problemResponse writes for `error`, as a route of `format` answers it. */
export function errorExample(error: AppError, format: ErrorFormat): JsonObject {
  return JSON.parse(problemResponse(error, EXAMPLE_CORRELATION_ID, format).body ?? '{}');
}

/** The README's record: a consenting patient, loaded as it is. */
const FLAT_BATCH = {
  records: [
    {
      resourceType: 'Patient',
      mrn: 'MRN-001',
      name: 'Jane Doe',
      birthDate: '1990-01-15',
      gender: 'female',
      ssn: '123-45-6789',
      consent: { data_sharing: true, research: false },
    },
  ],
};

const MR_IDENTIFIER_TYPE = {
  coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }],
};

function patient(mrn: string, family: string, id?: string): JsonObject {
  return {
    resourceType: 'Patient',
    ...(id === undefined ? {} : { id }),
    identifier: [{ type: MR_IDENTIFIER_TYPE, system: 'urn:example:mrn', value: mrn }],
    name: [{ use: 'official', family, given: ['Alex'] }],
    gender: 'other',
    birthDate: '1984-03-02',
  };
}

/** A permit: without one a FHIR patient is held back (and their observations with them). */
function permit(reference: string): JsonObject {
  return {
    resourceType: 'Consent',
    status: 'active',
    scope: {
      coding: [
        { system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' },
      ],
    },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference },
    dateTime: '2026-01-01T00:00:00Z',
    provision: { type: 'permit' },
  };
}

const BUNDLE_PATIENT = 'urn:uuid:0b7f1c52-4e3a-4d8b-9f21-6c5e8a9d0e13';

const FHIR_BUNDLE = {
  resourceType: 'Bundle',
  type: 'collection',
  entry: [
    { fullUrl: BUNDLE_PATIENT, resource: patient('MRN-FHIR-001', 'Rivera') },
    { resource: permit(BUNDLE_PATIENT) },
    {
      resource: {
        resourceType: 'Observation',
        status: 'final',
        category: [
          {
            coding: [
              {
                system: 'http://terminology.hl7.org/CodeSystem/observation-category',
                code: 'vital-signs',
              },
            ],
          },
        ],
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
        subject: { reference: BUNDLE_PATIENT },
        effectiveDateTime: '2026-01-02T09:30:00Z',
        valueQuantity: {
          value: 72,
          unit: '/min',
          system: 'http://unitsofmeasure.org',
          code: '/min',
        },
      },
    },
  ],
};

const NDJSON_PATIENT_ID = '5d2e8f41-7a6b-4c3d-8e9f-1a2b3c4d5e6f';

const NDJSON_PAIR = [
  patient('MRN-NDJSON-001', 'Okafor', NDJSON_PATIENT_ID),
  permit(`Patient/${NDJSON_PATIENT_ID}`),
]
  .map((resource) => JSON.stringify(resource))
  .join('\n');

/** Try it out's bodies on POST /api/v1/ingest (components.examples): each loads every record. */
export const INGEST_EXAMPLES = {
  FlatRecord: { summary: 'A flat record (the README’s)', value: FLAT_BATCH },
  FhirBundle: {
    summary: 'A FHIR Bundle: Patient, Consent (permit), Observation',
    value: FHIR_BUNDLE,
  },
  NdjsonPair: {
    summary: 'NDJSON: a Patient and their Consent (permit)',
    value: `${NDJSON_PAIR}\n`,
  },
} as const satisfies Readonly<Record<string, JsonObject>>;
