/**
 * The rejections Validate writes, for the flat and the FHIR validators alike: where the
 * record was and why, with schema paths and keywords, never its values.
 */
import type { Rejection } from '../db/repositories/rejections.ts';
import type { SchemaProblem } from '../fhir/validation.ts';
import type { ExtractedRecord } from './payloads.ts';

type RecordPosition = Pick<ExtractedRecord, 'index' | 'resourceType'>;

export function schemaRejection(
  { index, resourceType }: RecordPosition,
  problems: readonly SchemaProblem[],
): Rejection {
  return { recordIndex: index, resourceType, reason: 'schema', details: { problems } };
}

/** A record repeating an earlier one's `field` (its MRN, its id) in the same input. */
export function duplicateRejection(
  { index, resourceType }: RecordPosition,
  firstRecordIndex: number,
  field: string,
): Rejection {
  return {
    recordIndex: index,
    resourceType,
    reason: 'duplicate-in-batch',
    details: { firstRecordIndex, field },
  };
}
