import { deserialize, serialize } from 'node:v8';
import { decryptField, encryptField } from '../crypto/fieldCipher.ts';
import type { Queryable } from '../db/pool.ts';
import { findStagePayload, putStagePayload } from '../db/repositories/stagePayloads.ts';
import { StagePayloadMissingError } from '../errors.ts';
import { compressPayload, decompressPayload, V8_VERSION_TAG } from './payloadCompression.ts';

/**
 * The claim check: a stage's output is stored encrypted under the run's data key, bound
 * to its run and stage name by the AAD, so only `{ runId, counts }` travels the state machine.
 */
function aad(runId: string, payload: string) {
  return { table: 'stage_payloads', column: payload, rowId: runId };
}

/**
 * How a payload's value is written before it is compressed:
 * - `json`: JSON text. Records as received are mostly strings, which JSON writes and reads fastest.
 * - `binary`: the V8 serialization format, which keeps Buffers and Dates as they are. For
 *   payloads of ciphertext, which JSON could only carry as base64 text.
 *
 * A reader tells them apart by the first byte: V8's format starts with its version tag, 0xFF,
 * which UTF-8 JSON text never does. A binary payload is only read after its authentication tag
 * has checked out, so the deserializer only ever sees bytes this pipeline wrote.
 */
export type PayloadEncoding = 'json' | 'binary';

export function sealPayload(
  key: Buffer,
  runId: string,
  payload: string,
  value: unknown,
  encoding: PayloadEncoding = 'json',
): Buffer {
  const encoded = encoding === 'binary' ? serialize(value) : JSON.stringify(value);
  return encryptField(key, compressPayload(encoded), aad(runId, payload));
}

/** The value sealPayload sealed, in either encoding. */
export function openPayload<T>(key: Buffer, runId: string, payload: string, sealed: Buffer): T {
  const encoded = decompressPayload(decryptField(key, sealed, aad(runId, payload)));
  return (
    encoded[0] === V8_VERSION_TAG ? deserialize(encoded) : JSON.parse(encoded.toString('utf8'))
  ) as T;
}

export async function storePayload(
  db: Queryable,
  key: Buffer,
  runId: string,
  payload: string,
  value: unknown,
  encoding: PayloadEncoding = 'json',
): Promise<void> {
  await putStagePayload(db, runId, payload, sealPayload(key, runId, payload, value, encoding));
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
