/** The pieces operations and components are written with: references into `components`, content. */
import { FHIR_JSON_MEDIA_TYPE, JSON_MEDIA_TYPE } from '../../mediaTypes.ts';

export type JsonObject = Record<string, unknown>;

const ref = (kind: string, name: string): JsonObject => ({ $ref: `#/components/${kind}/${name}` });
export const schemaRef = (name: string): JsonObject => ref('schemas', name);
export const responseRef = (name: string): JsonObject => ref('responses', name);
export const parameterRef = (name: string): JsonObject => ref('parameters', name);
export const headerRef = (name: string): JsonObject => ref('headers', name);
export const exampleRef = (name: string): JsonObject => ref('examples', name);

export function jsonContent(schema: JsonObject): JsonObject {
  return { [JSON_MEDIA_TYPE]: { schema } };
}

export function okResponse(description: string, schema: JsonObject): JsonObject {
  return {
    description,
    headers: { 'X-Correlation-Id': headerRef('CorrelationId') },
    content: jsonContent(schema),
  };
}

export function fhirOkResponse(description: string, schema: JsonObject): JsonObject {
  return {
    description,
    headers: { 'X-Correlation-Id': headerRef('CorrelationId') },
    content: { [FHIR_JSON_MEDIA_TYPE]: { schema } },
  };
}
