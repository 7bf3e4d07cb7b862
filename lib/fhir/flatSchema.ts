/**
 * JSON Schemas of the flat input format. They use only keywords that mean the same in
 * draft-07 (what the default Ajv class compiles) and 2020-12 (the OpenAPI 3.1 dialect), so
 * the OpenAPI document can embed them unchanged; hence no `$schema`.
 */
import { ConfigError } from '../errors.ts';
import { GENDERS } from './model.ts';

/** Printable ASCII, no leading or trailing space. */
export const MRN_PATTERN = '^[!-~](?:[ -~]*[!-~])?$';
/** Shape only: Synthea test data uses the 999 area that SSA never assigns. */
export const SSN_PATTERN = '^\\d{3}-\\d{2}-\\d{4}$';
/** A real calendar date YYYY-MM-DD, from 1850 on, not after today in UTC+14. */
export const BIRTH_DATE_FORMAT = 'birth-date';

export const patientRecordSchema = {
  $id: 'https://healthcare-etl.example/schemas/flat/patient-record.json',
  type: 'object',
  required: ['resourceType', 'mrn'],
  additionalProperties: false,
  properties: {
    resourceType: { const: 'Patient' },
    mrn: { type: 'string', minLength: 1, maxLength: 64, pattern: MRN_PATTERN },
    name: { type: 'string', minLength: 1, maxLength: 200 },
    birthDate: { type: 'string', format: BIRTH_DATE_FORMAT },
    gender: { enum: GENDERS },
    ssn: { type: 'string', pattern: SSN_PATTERN },
    consent: {
      type: 'object',
      properties: {
        data_sharing: { type: 'boolean' },
        research: { type: 'boolean' },
      },
      additionalProperties: { type: 'boolean' },
      maxProperties: 16,
    },
  },
} as const;

/** Records are not validated here: each one is validated on its own so one bad record does not reject the batch. */
export const flatEnvelopeSchema = {
  $id: 'https://healthcare-etl.example/schemas/flat/envelope.json',
  type: 'object',
  required: ['records'],
  additionalProperties: false,
  properties: {
    records: { type: 'array', minItems: 1 },
  },
} as const;

/** The envelope with the configured batch limit; the limit lives in configuration, not here. */
export function flatEnvelopeSchemaWith(maxRecords: number) {
  if (!Number.isSafeInteger(maxRecords) || maxRecords < 1) {
    throw new ConfigError('maxRecords must be a positive integer');
  }
  return {
    ...flatEnvelopeSchema,
    properties: { records: { ...flatEnvelopeSchema.properties.records, maxItems: maxRecords } },
  } as const;
}

/** The flat envelope once it has passed `flatEnvelopeSchema`; its records are still unchecked. */
export interface FlatEnvelope {
  readonly records: readonly unknown[];
}
