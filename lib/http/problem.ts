/**
 * The one mapping from errors to HTTP responses: RFC 9457 problem details, or on the FHIR
 * routes the same status, headers and text as a FHIR OperationOutcome.
 * 4xx bodies explain (the message of an exposed error is written without PHI by
 * contract, see lib/errors.ts); 5xx bodies say only that it failed and give the
 * correlation id, whatever the error carried.
 */
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { toAppError } from '../db/errors.ts';
import type { AppError } from '../errors.ts';
import { InputValidationError, TooManyRequestsError } from '../errors.ts';
import { operationOutcome } from '../fhir/r4/resources.ts';
import { FHIR_JSON_MEDIA_TYPE, JSON_MEDIA_TYPE } from '../mediaTypes.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
export const CORRELATION_ID_HEADER = 'x-correlation-id';

/** How a route writes its errors: problem+json (the v1 API) or FHIR OperationOutcome. */
export const ERROR_FORMATS = ['problem+json', 'operation-outcome'] as const;
export type ErrorFormat = (typeof ERROR_FORMATS)[number];

const PROBLEM_TYPE_PREFIX = 'urn:problem:healthcare-etl:';
const INTERNAL_ERROR_CODE = 'internal-error';
const SERVICE_UNAVAILABLE_CODE = 'service-unavailable';
const REALM = 'healthcare-etl';
/** A 503's Retry-After: a dropped connection or busy dependency is usually back within a second. */
export const SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS = 1;

/** Reason phrases of RFC 9110, so titles never depend on what an error says. */
const TITLES: ReadonlyMap<number, string> = new Map([
  [400, 'Bad Request'],
  [401, 'Unauthorized'],
  [403, 'Forbidden'],
  [404, 'Not Found'],
  [405, 'Method Not Allowed'],
  [406, 'Not Acceptable'],
  [409, 'Conflict'],
  [410, 'Gone'],
  [412, 'Precondition Failed'],
  [413, 'Content Too Large'],
  [415, 'Unsupported Media Type'],
  [422, 'Unprocessable Content'],
  [428, 'Precondition Required'],
  [429, 'Too Many Requests'],
  [500, 'Internal Server Error'],
  [501, 'Not Implemented'],
  [502, 'Bad Gateway'],
  [503, 'Service Unavailable'],
  [504, 'Gateway Timeout'],
]);

const WWW_AUTHENTICATE: ReadonlyMap<number, string> = new Map([
  [401, `Bearer realm="${REALM}", error="invalid_token"`],
  [403, `Bearer realm="${REALM}", error="insufficient_scope"`],
]);

export function problemTypeUri(code: string): string {
  return `${PROBLEM_TYPE_PREFIX}${code}`;
}

function statusTitle(status: number): string {
  return TITLES.get(status) ?? (status < 500 ? 'Bad Request' : 'Internal Server Error');
}

export function jsonResponse(
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: status,
    headers: { 'content-type': JSON_MEDIA_TYPE, 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

/** A FHIR resource as `application/fhir+json`. */
export function fhirResponse(status: number, resource: unknown): APIGatewayProxyStructuredResultV2 {
  return jsonResponse(status, resource, { 'content-type': FHIR_JSON_MEDIA_TYPE });
}

function isClientError(error: AppError): boolean {
  return (
    error.expose &&
    Number.isInteger(error.statusCode) &&
    error.statusCode >= 400 &&
    error.statusCode < 500
  );
}

/**
 * The status a response for this error carries: its own if it is a 4xx it may show or any 5xx,
 * 503 for anything worth retrying, else 500.
 */
function problemStatus(error: AppError): number {
  if (isClientError(error)) return error.statusCode;
  if (error.retryable) return 503;
  const { statusCode } = error;
  return Number.isInteger(statusCode) && statusCode >= 500 && statusCode <= 599 ? statusCode : 500;
}

function clientProblem(error: AppError, correlationId: string): Record<string, unknown> {
  const status = error.statusCode;
  const body: Record<string, unknown> = {
    type: problemTypeUri(error.code),
    title: statusTitle(status),
    status,
    detail: error.message,
    correlationId,
  };
  if (error instanceof InputValidationError) {
    // Copied field by field so nothing else a caller hung on a problem can leak out.
    body['errors'] = error.problems.map(({ path, keyword, message }) => ({
      path,
      keyword,
      message,
    }));
  }
  return body;
}

function serverProblem(status: number, correlationId: string): Record<string, unknown> {
  const code = status === 503 ? SERVICE_UNAVAILABLE_CODE : INTERNAL_ERROR_CODE;
  return { type: problemTypeUri(code), title: statusTitle(status), status, correlationId };
}

/** The 5xx text of an OperationOutcome: generic, like a 5xx problem's title. */
function serverDiagnostics(status: number): string {
  return status === 503
    ? 'a service the request needs is unavailable; retry later'
    : 'the request failed';
}

function outcomeBody(
  error: AppError,
  status: number,
  correlationId: string,
): Record<string, unknown> {
  if (!isClientError(error)) {
    return operationOutcome(status, { diagnostics: serverDiagnostics(status) }, correlationId);
  }
  const problems =
    error instanceof InputValidationError
      ? error.problems.map(({ path, message }) => ({ path, message }))
      : [];
  return operationOutcome(status, { diagnostics: error.message, problems }, correlationId);
}

function problemBody(
  error: AppError,
  status: number,
  correlationId: string,
): Record<string, unknown> {
  return isClientError(error)
    ? clientProblem(error, correlationId)
    : serverProblem(status, correlationId);
}

/**
 * Maps anything thrown to an error response, problem+json unless the route answers in FHIR;
 * see the module comment for what may show. Status and headers do not depend on the format.
 */
export function problemResponse(
  error: unknown,
  correlationId: string,
  format: ErrorFormat = 'problem+json',
): APIGatewayProxyStructuredResultV2 {
  const appError = toAppError(error);
  const status = problemStatus(appError);
  const fhir = format === 'operation-outcome';
  const body = fhir
    ? outcomeBody(appError, status, correlationId)
    : problemBody(appError, status, correlationId);
  const headers: Record<string, string> = {
    'content-type': fhir ? FHIR_JSON_MEDIA_TYPE : PROBLEM_CONTENT_TYPE,
    'cache-control': 'no-store',
    [CORRELATION_ID_HEADER]: correlationId,
  };
  const challenge = WWW_AUTHENTICATE.get(status);
  if (challenge !== undefined) headers['www-authenticate'] = challenge;
  if (appError instanceof TooManyRequestsError) {
    headers['retry-after'] = String(appError.retryAfterSeconds);
  }
  if (status === 503) headers['retry-after'] = String(SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS);
  return { statusCode: status, headers, body: JSON.stringify(body) };
}
