import type { ErrorObject } from 'ajv';

/** Messages for what a schema refuses, by pattern or format: each written by us. */
export interface SchemaMessages {
  readonly patterns: ReadonlyMap<string, string>;
  readonly formats: ReadonlyMap<string, string>;
}

function quantity(count: unknown, singular: string, plural = `${singular}s`): string {
  return `${String(count)} ${count === 1 ? singular : plural}`;
}

function listOf(values: unknown, separator: string): string {
  return Array.isArray(values) ? values.map(String).join(separator) : String(values);
}

/** The ajv error parameters read here; each comes from the schema, never from the instance. */
interface ErrorParams {
  readonly missingProperty?: unknown;
  readonly type?: unknown;
  readonly allowedValue?: unknown;
  readonly allowedValues?: unknown;
  readonly limit?: unknown;
  readonly pattern?: unknown;
  readonly format?: unknown;
}

/** Built from the keyword and schema parameters only: `additionalProperty` names sender data. */
export function schemaMessage(error: ErrorObject, messages: SchemaMessages): string {
  const params: ErrorParams = error.params;
  switch (error.keyword) {
    case 'required':
      return `is required: ${String(params.missingProperty)}`;
    case 'additionalProperties':
      return 'unexpected property';
    case 'type':
      return `must be ${listOf(params.type, ' or ')}`;
    case 'const':
      return `must equal ${String(params.allowedValue)}`;
    case 'enum':
      return `must be one of ${listOf(params.allowedValues, ', ')}`;
    case 'minLength':
      return `must be at least ${quantity(params.limit, 'character')} long`;
    case 'maxLength':
      return `must be at most ${quantity(params.limit, 'character')} long`;
    case 'minItems':
      return `must hold at least ${quantity(params.limit, 'item')}`;
    case 'maxItems':
      return `must hold at most ${quantity(params.limit, 'item')}`;
    case 'maxProperties':
      return `must have at most ${quantity(params.limit, 'property', 'properties')}`;
    case 'pattern':
      return messages.patterns.get(String(params.pattern)) ?? 'must match the expected pattern';
    case 'format':
      return (
        messages.formats.get(String(params.format)) ?? `must be a valid ${String(params.format)}`
      );
    default:
      return `fails the ${error.keyword} rule`;
  }
}
