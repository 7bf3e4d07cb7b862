/**
 * The OpenAPI 3.1 document of the HTTP API: its paths built from the route table
 * (lib/api/routes.ts), so it documents exactly the routes and scopes the handlers serve, and
 * its components from lib/api/openapi/.
 */
import type { ErrorFormat } from '../http/problem.ts';
import { components } from './openapi/components.ts';
import { type JsonObject, responseRef } from './openapi/references.ts';
import { type DocumentSettings, type Operation, ROUTES, type Route } from './routes.ts';

export interface OpenApiOptions {
  /** The base URL clients call; omitted, the document is relative to where it is served. */
  readonly serverUrl?: string;
  /** The batch limit the ingest endpoint enforces (configuration, not a constant). */
  readonly maxRecordsPerBatch: number;
}

/** Every authenticated route checks its token and rate limit against services that can be down: 503. */
const AUTHENTICATED_ERRORS: Readonly<Record<ErrorFormat, JsonObject>> = {
  'problem+json': {
    '401': responseRef('Unauthorized'),
    '403': responseRef('Forbidden'),
    '429': responseRef('TooManyRequests'),
    '500': responseRef('InternalError'),
    '503': responseRef('ServiceUnavailable'),
  },
  'operation-outcome': {
    '401': responseRef('FhirUnauthorized'),
    '403': responseRef('FhirForbidden'),
    '429': responseRef('FhirTooManyRequests'),
    '500': responseRef('FhirInternalError'),
    '503': responseRef('FhirServiceUnavailable'),
  },
};

function operationObject(
  operationId: string,
  route: Route,
  operation: Operation,
  settings: DocumentSettings,
): JsonObject {
  const { tags, summary, description, parameters, requestBody, responses } = operation;
  const authenticated = route.anyOf !== 'public';
  return {
    operationId,
    tags,
    summary,
    ...(description === undefined
      ? {}
      : { description: typeof description === 'string' ? description : description(settings) }),
    security: authenticated ? route.anyOf.map((scope) => ({ bearer: [scope] })) : [],
    ...(parameters === undefined ? {} : { parameters }),
    ...(requestBody === undefined ? {} : { requestBody }),
    responses: authenticated ? { ...responses, ...AUTHENTICATED_ERRORS[route.errors] } : responses,
  };
}

function paths(settings: DocumentSettings): JsonObject {
  const items: Record<string, JsonObject> = {};
  for (const [operationId, route] of Object.entries<Route>(ROUTES)) {
    if (route.operation === undefined) continue;
    items[route.path] = {
      ...items[route.path],
      [route.method.toLowerCase()]: operationObject(operationId, route, route.operation, settings),
    };
  }
  return items;
}

/** Builds the document afresh; callers serve it from a cold-start cache. */
export function buildOpenApiDocument(options: OpenApiOptions): Record<string, unknown> {
  const { maxRecordsPerBatch, serverUrl } = options;
  return {
    openapi: '3.1.0',
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
    paths: paths({ maxRecordsPerBatch }),
    components: components(maxRecordsPerBatch),
  };
}
