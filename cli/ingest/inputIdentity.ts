import { createHash } from 'node:crypto';

/** What the content hash covers of a file: its name in the input and its bytes. */
export interface HashedFile {
  readonly name: string;
  readonly bytes: Buffer;
}

/** SHA-256 over the files in order, names and lengths included, so no two inputs run together. */
export function contentHash(files: readonly HashedFile[]): string {
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(`${file.name}\0${file.bytes.length}\0`);
    hash.update(file.bytes);
  }
  return hash.digest('hex');
}

/** Names the input's resume state: the same path with other content starts fresh. */
export function stateKey(resolvedPath: string, hash: string): string {
  return createHash('sha256').update(`${resolvedPath}\0${hash}`).digest('hex').slice(0, 16);
}

export interface BatchKey {
  readonly contentHash: string;
  readonly batchSize: number;
  readonly batchIndex: number;
  /** How many runs of this batch failed before: a failed run's key would only replay it. */
  readonly attempt: number;
}

/**
 * The batch's Idempotency-Key: the same batch of the same input gets the same key, so a batch
 * posted just before a crash is answered with its run instead of being loaded twice.
 */
export function idempotencyKey(key: BatchKey): string {
  return `etl-ingest:${key.contentHash}:${key.batchSize}:${key.batchIndex}:${key.attempt}`;
}
