import { randomUUID } from 'node:crypto';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { S3_UNAVAILABLE_NAMES, toPayloadStoreError } from '../aws/errors.ts';
import type { StagePayloadRecord } from '../db/repositories/stagePayloads.ts';
import { InternalError, PayloadStoreUnavailableError } from '../errors.ts';
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
 * An object that is not there. Only with s3:ListBucket on the bucket does S3 say so (404
 * NoSuchKey); without it, it answers 403 AccessDenied. NoSuchBucket is a deployment's fault.
 */
function isMissingObject(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const status = (error as { $metadata?: { httpStatusCode?: unknown } }).$metadata?.httpStatusCode;
  return error.name === 'NoSuchKey' || (status === 404 && error.name !== 'NoSuchBucket');
}

/**
 * AWS's payloads: one object per attempt's payload, keyed `<runId>/<payload>-<uuid>`, already
 * sealed under the run's data key and encrypted again at rest under the pipeline's KMS key.
 * A PutObject that returned is durable, so a stage records its location only after it.
 * Throttling, S3's 5xx, timeouts and dropped connections are PayloadStoreUnavailableError, which
 * the state machine retries; a refusal (access denied, no such bucket) is an InternalError.
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
    try {
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
    } catch (error) {
      throw toPayloadStoreError('PutObject', error);
    }
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
      if (isMissingObject(error)) return undefined;
      throw toPayloadStoreError('GetObject', error);
    }
  }

  async discard(location: string): Promise<void> {
    try {
      await this.#client.send(
        new DeleteObjectCommand({ Bucket: this.#bucket, Key: checkedLocation(location) }),
      );
    } catch (error) {
      throw toPayloadStoreError('DeleteObject', error);
    }
  }

  async purgeRun(runId: string): Promise<void> {
    const prefix = `${checkedRunId(runId)}/`;
    let token: string | undefined;
    do {
      const listed = await this.#client
        .send(
          new ListObjectsV2Command({
            Bucket: this.#bucket,
            Prefix: prefix,
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        )
        .catch((error: unknown) => {
          throw toPayloadStoreError('ListObjectsV2', error);
        });
      const keys = (listed.Contents ?? []).flatMap((object) =>
        object.Key === undefined ? [] : [{ Key: object.Key }],
      );
      if (keys.length > 0) {
        const deleted = await this.#client
          .send(
            new DeleteObjectsCommand({
              Bucket: this.#bucket,
              Delete: { Objects: keys, Quiet: true },
            }),
          )
          .catch((error: unknown) => {
            throw toPayloadStoreError('DeleteObjects', error);
          });
        const errors = deleted.Errors ?? [];
        if (errors.length > 0) {
          // Left to the bucket's lifecycle rule if the purge is never run again.
          const message = `${errors.length} payload objects of run ${runId} were not deleted`;
          throw errors.every(({ Code }) => Code !== undefined && S3_UNAVAILABLE_NAMES.has(Code))
            ? new PayloadStoreUnavailableError(message)
            : new InternalError(message);
        }
      }
      token = listed.IsTruncated === true ? listed.NextContinuationToken : undefined;
    } while (token !== undefined);
  }
}
