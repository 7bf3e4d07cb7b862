import { decryptField, encryptField } from '../crypto/fieldCipher.ts';
import type { Queryable } from '../db/pool.ts';
import { findStagePayload, putStagePayload } from '../db/repositories/stagePayloads.ts';
import { StagePayloadMissingError } from '../errors.ts';
import { compressPayload, decompressPayload } from './payloadCompression.ts';

/**
 * The claim check: a stage's output is stored encrypted under the run's data key, bound
 * to its run and stage name by the AAD, so only `{ runId, counts }` travels the state machine.
 */
function aad(runId: string, payload: string) {
  return { table: 'stage_payloads', column: payload, rowId: runId };
}

export function sealPayload(key: Buffer, runId: string, payload: string, value: unknown): Buffer {
  const json = JSON.stringify(value);
  return encryptField(key, compressPayload(json), aad(runId, payload));
}

export function openPayload<T>(key: Buffer, runId: string, payload: string, sealed: Buffer): T {
  const compressed = decryptField(key, sealed, aad(runId, payload));
  return JSON.parse(decompressPayload(compressed).toString('utf8')) as T;
}

export async function storePayload(
  db: Queryable,
  key: Buffer,
  runId: string,
  payload: string,
  value: unknown,
): Promise<void> {
  await putStagePayload(db, runId, payload, sealPayload(key, runId, payload, value));
}

export async function loadPayload<T>(
  db: Queryable,
  key: Buffer,
  runId: string,
  payload: string,
): Promise<T> {
  const sealed = await findStagePayload(db, runId, payload);
  if (sealed === undefined) throw new StagePayloadMissingError(runId, payload);
  return openPayload<T>(key, runId, payload, sealed);
}
