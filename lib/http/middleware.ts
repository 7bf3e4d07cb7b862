/**
 * The middy middleware every HTTP handler uses first: it gives each request a
 * correlation id, echoes it on every response, turns anything thrown into a
 * problem+json response (an OperationOutcome on FHIR routes) with one log line that
 * carries codes and names, never messages, and writes one access line per request.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { toAppError } from '../db/errors.ts';
import type { AppError } from '../errors.ts';
import { ConfigError, displayableErrorName } from '../errors.ts';
import { headerValue } from './body.ts';
import {
  CORRELATION_ID_HEADER,
  ERROR_FORMATS,
  type ErrorFormat,
  problemResponse,
} from './problem.ts';

/** The logger methods the middleware calls; a Powertools `Logger` is one. */
export type HttpErrorsLogger = Pick<Logger, 'error' | 'info'>;

export interface HttpErrorsOptions {
  readonly logger: HttpErrorsLogger;
  /** The body errors are written as; problem+json unless the route speaks FHIR. */
  readonly format?: ErrorFormat;
  /**
   * What the access line names the request by: the route's template (`GET /api/v1/runs/{runId}`),
   * never the path sent, which can hold an MRN. The function's name when absent.
   */
  readonly route?: string;
}

const DEFAULTS = { format: 'problem+json' } as const satisfies Partial<HttpErrorsOptions>;

type HttpMiddleware = MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>;

// Only an opaque id is taken from a client: free text could carry PHI into every log line.
const CLIENT_CORRELATION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Logged beside the correlation id, when it has the shape of an id at all.
const GATEWAY_REQUEST_ID = /^[!-~]{1,128}$/;

// Keyed by the event so the id lives exactly as long as the request it belongs to.
const correlationIds = new WeakMap<APIGatewayProxyEventV2, string>();
const startedAt = new WeakMap<APIGatewayProxyEventV2, number>();

function chooseCorrelationId(event: APIGatewayProxyEventV2): string {
  const fromClient = headerValue(event, CORRELATION_ID_HEADER);
  if (fromClient !== undefined && CLIENT_CORRELATION_ID.test(fromClient)) {
    return fromClient.toLowerCase();
  }
  // Not API Gateway's request id: serverless-offline gives every request the same one.
  return randomUUID();
}

function gatewayRequestIdOf(event: APIGatewayProxyEventV2): string | undefined {
  const requestId: unknown = event.requestContext?.requestId;
  return typeof requestId === 'string' && GATEWAY_REQUEST_ID.test(requestId)
    ? requestId
    : undefined;
}

/**
 * The request's correlation id: the client's `x-correlation-id` when it is a UUID (in lower
 * case), else a fresh UUID, never the value refused. Stable for the life of the event.
 */
export function correlationIdOf(event: APIGatewayProxyEventV2): string {
  const known = correlationIds.get(event);
  if (known !== undefined) return known;
  const chosen = chooseCorrelationId(event);
  correlationIds.set(event, chosen);
  return chosen;
}

function withCorrelationId(
  response: APIGatewayProxyStructuredResultV2,
  correlationId: string,
): APIGatewayProxyStructuredResultV2 {
  return { ...response, headers: { ...response.headers, [CORRELATION_ID_HEADER]: correlationId } };
}

/** An error's name only when it looks like an identifier, since a cause's name is not ours to trust. */
function causeNameOf(error: AppError): string | undefined {
  const { cause } = error;
  if (!(cause instanceof Error)) return undefined;
  return displayableErrorName(cause.name);
}

function logOutcome(
  logger: HttpErrorsLogger,
  error: AppError,
  status: number,
  correlationId: string,
): void {
  if (status < 500) {
    logger.info('request rejected', { correlationId, status, code: error.code });
    return;
  }
  const causeName = causeNameOf(error);
  const summary =
    causeName === undefined
      ? { name: error.name, code: error.code }
      : { name: error.name, code: error.code, causeName };
  logger.error('request failed', { correlationId, status, error: summary });
}

/** The access line: one per request, naming the route, never the path or query sent. */
function logServed(
  logger: HttpErrorsLogger,
  event: APIGatewayProxyEventV2,
  route: string,
  response: APIGatewayProxyStructuredResultV2,
): void {
  const started = startedAt.get(event);
  const gatewayRequestId = gatewayRequestIdOf(event);
  logger.info('request served', {
    correlationId: correlationIdOf(event),
    route,
    status: response.statusCode ?? 200,
    durationMs: started === undefined ? null : Math.round(performance.now() - started),
    ...(gatewayRequestId === undefined ? {} : { gatewayRequestId }),
  });
}

function validateOptions(
  options: HttpErrorsOptions,
): Required<Omit<HttpErrorsOptions, 'route'>> & Pick<HttpErrorsOptions, 'route'> {
  const logger: Partial<HttpErrorsLogger> | undefined = options?.logger;
  if (typeof logger?.error !== 'function' || typeof logger.info !== 'function') {
    throw new ConfigError('httpErrors: options.logger must have error and info methods');
  }
  const format = options.format ?? DEFAULTS.format;
  if (!(ERROR_FORMATS as readonly string[]).includes(format)) {
    throw new ConfigError(`httpErrors: options.format must be one of ${ERROR_FORMATS.join(', ')}`);
  }
  if (options.route !== undefined && typeof options.route !== 'string') {
    throw new ConfigError('httpErrors: options.route must be a string');
  }
  return {
    logger: options.logger,
    format,
    ...(options.route === undefined ? {} : { route: options.route }),
  };
}

/** Use it first on every HTTP handler, so its `onError` runs last and sees every failure. */
export function httpErrors(options: HttpErrorsOptions): HttpMiddleware {
  const { logger, format, route } = validateOptions(options);
  const routeOf = (context: { functionName?: string } | undefined) =>
    route ?? context?.functionName ?? 'unknown';
  return {
    name: 'httpErrors',
    before: (request) => {
      startedAt.set(request.event, performance.now());
      correlationIdOf(request.event);
    },
    after: (request) => {
      const { response } = request;
      if (typeof response !== 'object' || response === null) return;
      request.response = withCorrelationId(response, correlationIdOf(request.event));
      logServed(logger, request.event, routeOf(request.context), request.response);
    },
    onError: (request) => {
      const correlationId = correlationIdOf(request.event);
      // Another onError middleware already answered: keep its answer, add the id.
      if (typeof request.response === 'object' && request.response !== null) {
        request.response = withCorrelationId(request.response, correlationId);
        logServed(logger, request.event, routeOf(request.context), request.response);
        return;
      }
      const error = toAppError(request.error);
      const response = problemResponse(error, correlationId, format);
      logOutcome(logger, error, response.statusCode ?? 500, correlationId);
      request.response = response;
      logServed(logger, request.event, routeOf(request.context), response);
    },
  };
}
