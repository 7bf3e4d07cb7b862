import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  type AuditCheckpoint,
  type CheckpointStore,
  checkpointName,
  decodeCheckpoint,
  encodeCheckpoint,
} from './auditCheckpoints.ts';

const PREFIX = 'audit-checkpoints/';
/** PreconditionFailed (the key exists), ConditionalRequestConflict (a write of it in flight). */
const ALREADY_WRITTEN: ReadonlySet<unknown> = new Set([412, 409]);

function httpStatus(error: unknown): unknown {
  const metadata =
    typeof error === 'object' && error !== null && '$metadata' in error
      ? error.$metadata
      : undefined;
  return typeof metadata === 'object' && metadata !== null && 'httpStatusCode' in metadata
    ? metadata.httpStatusCode
    : undefined;
}

export interface S3CheckpointStoreOptions {
  readonly client: S3Client;
  /** A bucket with Object Lock on and a default retention (serverless.yml's AuditCheckpointBucket). */
  readonly bucket: string;
}

/**
 * AWS's checkpoints: one object per checkpoint in a bucket whose default Object Lock
 * retention (COMPLIANCE) keeps every version from deletion or overwrite, by anyone, for its
 * retention period. Keys sort newest first, so one ListObjectsV2 with MaxKeys 1 finds the latest.
 */
export class S3CheckpointStore implements CheckpointStore {
  readonly location: string;
  readonly #client: S3Client;
  readonly #bucket: string;

  constructor(options: S3CheckpointStoreOptions) {
    this.#client = options.client;
    this.#bucket = options.bucket;
    this.location = `s3://${options.bucket}/${PREFIX}`;
  }

  async write(checkpoint: AuditCheckpoint): Promise<void> {
    try {
      await this.#client.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: `${PREFIX}${checkpointName(checkpoint.seq)}`,
          Body: encodeCheckpoint(checkpoint),
          ContentType: 'application/json',
          // Object Lock requires an integrity checksum on every write.
          ChecksumAlgorithm: 'SHA256',
          // Write-once: no one with PutObject puts another version over a checkpoint.
          IfNoneMatch: '*',
        }),
      );
    } catch (error) {
      // A checkpoint of this seq is there already, or being written: the first one stands.
      if (!ALREADY_WRITTEN.has(httpStatus(error))) throw error;
    }
  }

  async latest(): Promise<AuditCheckpoint | undefined> {
    const listed = await this.#client.send(
      new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: PREFIX, MaxKeys: 1 }),
    );
    const key = listed.Contents?.[0]?.Key;
    if (key === undefined) return undefined;
    const object = await this.#client.send(
      new GetObjectCommand({ Bucket: this.#bucket, Key: key }),
    );
    const text = await object.Body?.transformToString('utf8');
    return decodeCheckpoint(text ?? '');
  }
}
