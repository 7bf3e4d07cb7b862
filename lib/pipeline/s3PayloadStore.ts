import { randomUUID } from 'node:crypto';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { StagePayloadRecord } from '../db/repositories/stagePayloads.ts';
import { InternalError } from '../errors.ts';
import {
  checkedLocation,
  checkedRunId,
  type PayloadStore,
  payloadLocation,
} from './payloadStore.ts';

export interface S3PayloadStoreOptions {
  readonly client: S3Client;
  /** serverless.yml's PayloadBucket: its lifecycle rule expires what a purge missed. */
  readonly bucket: string;
  /** The pipeline's KMS key (KMS_KEY_ID): every object is encrypted under it at rest. */
  readonly kmsKeyId: string;
}

/**
 * AWS's payloads: one object per attempt's payload, keyed `<runId>/<payload>-<uuid>`, already
 * sealed under the run's data key and encrypted again at rest under the pipeline's KMS key.
 * A PutObject that returned is durable, so a stage records its location only after it.
 */
export class S3PayloadStore implements PayloadStore {
  readonly location: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #kmsKeyId: string;

  constructor(options: S3PayloadStoreOptions) {
    this.#client = options.client;
    this.#bucket = options.bucket;
    this.#kmsKeyId = options.kmsKeyId;
    this.location = `s3://${options.bucket}/`;
  }

  async put(runId: string, payload: string, sealed: Buffer): Promise<StagePayloadRecord> {
    const location = payloadLocation(runId, payload, randomUUID());
    await this.#client.send(
      new PutObjectCommand({
        Bucket: this.#bucket,
        Key: location,
        Body: sealed,
        ContentType: 'application/octet-stream',
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: this.#kmsKeyId,
        BucketKeyEnabled: true,
      }),
    );
    return { location };
  }

  async get(location: string): Promise<Buffer | undefined> {
    try {
      const object = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: checkedLocation(location) }),
      );
      const bytes = await object.Body?.transformToByteArray();
      return bytes === undefined ? undefined : Buffer.from(bytes);
    } catch (error) {
      if (error instanceof Error && error.name === 'NoSuchKey') return undefined;
      throw error;
    }
  }

  async discard(location: string): Promise<void> {
    await this.#client.send(
      new DeleteObjectCommand({ Bucket: this.#bucket, Key: checkedLocation(location) }),
    );
  }

  async purgeRun(runId: string): Promise<void> {
    const prefix = `${checkedRunId(runId)}/`;
    let token: string | undefined;
    do {
      const listed = await this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: prefix,
          ...(token === undefined ? {} : { ContinuationToken: token }),
        }),
      );
      const keys = (listed.Contents ?? []).flatMap((object) =>
        object.Key === undefined ? [] : [{ Key: object.Key }],
      );
      if (keys.length > 0) {
        const deleted = await this.#client.send(
          new DeleteObjectsCommand({
            Bucket: this.#bucket,
            Delete: { Objects: keys, Quiet: true },
          }),
        );
        const failed = deleted.Errors?.length ?? 0;
        if (failed > 0) {
          // Left to the bucket's lifecycle rule if the purge is never run again.
          throw new InternalError(`${failed} payload objects of run ${runId} were not deleted`);
        }
      }
      token = listed.IsTruncated === true ? listed.NextContinuationToken : undefined;
    } while (token !== undefined);
  }
}
