import { deserialize, serialize } from 'node:v8';
import type { Logger } from '@aws-lambda-powertools/logger';
import { decryptField, encryptField } from '../crypto/fieldCipher.ts';
import type { Queryable } from '../db/pool.ts';
import {
  findStagePayload,
  purgeStagePayloads,
  putStagePayload,
  type StagePayloadRecord,
} from '../db/repositories/stagePayloads.ts';
import { displayableErrorName, StagePayloadMissingError } from '../errors.ts';
import { compressPayload, decompressPayload, V8_VERSION_TAG } from './payloadCompression.ts';
import type { PayloadStore } from './payloadStore.ts';

/**
 * The claim check: a stage's output is stored encrypted under the run's data key, bound
 * to its run and stage name by the AAD, so only `{ runId, counts }` travels the state machine.
 * The AAD names stage_payloads wherever the ciphertext is kept: the row is the commit record.
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

/**
 * Seals a payload under the run's data key and puts it in the store, before the transaction that
 * records it (recordPayload): no lock is held while an external store writes and syncs it.
 */
export async function writePayload(
  store: PayloadStore,
  key: Buffer,
  runId: string,
  payload: string,
  value: unknown,
  encoding: PayloadEncoding = 'json',
): Promise<StagePayloadRecord> {
  return store.put(runId, payload, sealPayload(key, runId, payload, value, encoding));
}

/** Commits a written payload: from then on readers find it, and a later attempt's replaces it. */
export async function recordPayload(
  db: Queryable,
  runId: string,
  payload: string,
  record: StagePayloadRecord,
): Promise<void> {
  await putStagePayload(db, runId, payload, record);
}

/**
 * Deletes a written payload that its attempt's transaction did not record (it rolled back, or a
 * duplicate had committed first). Best effort, and never the attempt's failure: what is left is
 * purged with the run, or expired by the bucket's lifecycle rule (deployed, the writers may not
 * delete objects, so this is the usual outcome there, hence info and not a warning).
 */
export async function discardPayload(
  store: PayloadStore,
  record: StagePayloadRecord,
  logger: Logger,
): Promise<void> {
  if (!('location' in record)) return;
  try {
    await store.discard(record.location);
  } catch (error) {
    // Names only: an SDK's or the file system's message may quote a key or a path.
    const cause = error instanceof Error ? error.cause : undefined;
    logger.info('an unrecorded payload was left for the run purge', {
      store: store.location,
      error: error instanceof Error ? displayableErrorName(error.name) : 'unknown',
      ...(cause instanceof Error ? { causeName: displayableErrorName(cause.name) } : {}),
    });
  }
}

/** The committed payload, opened; StagePayloadMissingError when its row or its object is gone. */
export async function loadPayload<T>(
  db: Queryable,
  store: PayloadStore,
  key: Buffer,
  runId: string,
  payload: string,
): Promise<T> {
  const record = await findStagePayload(db, runId, payload);
  const sealed =
    record === undefined
      ? undefined
      : 'ciphertext' in record
        ? record.ciphertext
        : await store.get(record.location);
  if (sealed === undefined) throw new StagePayloadMissingError(runId, payload);
  return openPayload<T>(key, runId, payload, sealed);
}

/**
 * Deletes a run's payloads: the objects first, then the rows, so that a purge cut short leaves
 * rows the retention sweep finds again rather than objects no row names.
 */
export async function purgeRunPayloads(
  db: Queryable,
  store: PayloadStore,
  runId: string,
): Promise<number> {
  await store.purgeRun(runId);
  return purgeStagePayloads(db, runId);
}
