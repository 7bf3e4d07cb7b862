import { randomBytes, randomUUID } from 'node:crypto';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchBucket,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  InternalError,
  PayloadStoreUnavailableError,
  RETRYABLE_ERROR_NAMES,
} from '../../../lib/errors.ts';
import { S3PayloadStore } from '../../../lib/pipeline/s3PayloadStore.ts';
import { thrownBy } from '../../helpers/thrown.ts';

const bucket = 'healthcare-etl-dev-payloadbucket-abc123';
const kmsKeyId = 'arn:aws:kms:us-east-1:000000000000:key/pipeline';
const runId = randomUUID();
const LOCATION = /^[0-9a-f-]{36}\/validated-[0-9a-f-]{36}$/;

/** An error as the SDK throws one S3 answered with (or, without a status, one of its own). */
function s3Error(name: string, httpStatusCode?: number, code?: string): Error {
  const error = new S3ServiceException({
    name,
    $fault: httpStatusCode !== undefined && httpStatusCode < 500 ? 'client' : 'server',
    $metadata: httpStatusCode === undefined ? {} : { httpStatusCode },
    message: `${name} for ${runId}/received`,
  });
  return code === undefined ? error : Object.assign(error, { code });
}

/** Each S3 call of the store, made to fail with `failure`. */
const OPERATIONS = {
  PutObject: {
    fail: (mock: ReturnType<typeof mockClient>, failure: Error) =>
      mock.on(PutObjectCommand).rejects(failure),
    call: (store: S3PayloadStore) => store.put(runId, 'validated', randomBytes(8)),
  },
  GetObject: {
    fail: (mock: ReturnType<typeof mockClient>, failure: Error) =>
      mock.on(GetObjectCommand).rejects(failure),
    call: (store: S3PayloadStore) => store.get(`${runId}/validated-${randomUUID()}`),
  },
  DeleteObject: {
    fail: (mock: ReturnType<typeof mockClient>, failure: Error) =>
      mock.on(DeleteObjectCommand).rejects(failure),
    call: (store: S3PayloadStore) => store.discard(`${runId}/validated-${randomUUID()}`),
  },
  ListObjectsV2: {
    fail: (mock: ReturnType<typeof mockClient>, failure: Error) =>
      mock.on(ListObjectsV2Command).rejects(failure),
    call: (store: S3PayloadStore) => store.purgeRun(runId),
  },
  DeleteObjects: {
    fail: (mock: ReturnType<typeof mockClient>, failure: Error) =>
      mock
        .on(ListObjectsV2Command)
        .resolves({ Contents: [{ Key: `${runId}/received-${randomUUID()}` }] })
        .on(DeleteObjectsCommand)
        .rejects(failure),
    call: (store: S3PayloadStore) => store.purgeRun(runId),
  },
} as const;

const TRANSIENT_FAILURES = [
  ['SlowDown (503)', () => s3Error('SlowDown', 503)],
  ['InternalError (500)', () => s3Error('InternalError', 500)],
  ['ServiceUnavailable (503)', () => s3Error('ServiceUnavailable', 503)],
  ['an unnamed 502', () => s3Error('Unknown', 502)],
  ['RequestTimeout (400)', () => s3Error('RequestTimeout', 400)],
  ['TimeoutError', () => s3Error('TimeoutError')],
  ['ECONNRESET', () => s3Error('Error', undefined, 'ECONNRESET')],
  ['ENOTFOUND', () => s3Error('Error', undefined, 'ENOTFOUND')],
] as const;

const REFUSALS = [
  ['AccessDenied (403)', () => s3Error('AccessDenied', 403)],
  [
    'NoSuchBucket (404)',
    () => new NoSuchBucket({ message: 'The specified bucket does not exist', $metadata: {} }),
  ],
  ['KMS.DisabledException (400)', () => s3Error('KMS.DisabledException', 400)],
  ['InvalidRequest (400)', () => s3Error('InvalidRequest', 400)],
] as const;

const casesOf = <T extends readonly (readonly [string, () => Error])[]>(failures: T) =>
  Object.keys(OPERATIONS).flatMap((operation) =>
    failures.map(
      ([label, failure]) => [operation as keyof typeof OPERATIONS, label, failure] as const,
    ),
  );

/** The one method of the SDK's streaming body the store reads (the mock takes it as the full type). */
const body = (bytes: Buffer) =>
  ({ transformToByteArray: async () => new Uint8Array(bytes) }) as never;

describe('S3PayloadStore', () => {
  const s3Mock = mockClient(S3Client);
  const store = new S3PayloadStore({
    client: new S3Client({ region: 'us-east-1' }),
    bucket,
    kmsKeyId,
  });

  beforeEach(() => {
    s3Mock.reset();
  });

  it('puts each payload under a key of its own run and attempt, encrypted under the pipeline’s KMS key', async () => {
    // Prepare
    s3Mock.on(PutObjectCommand).resolves({});
    const sealed = randomBytes(64);

    // Act
    const first = await store.put(runId, 'validated', sealed);
    const second = await store.put(runId, 'validated', sealed);

    // Assess
    expect(first).toEqual({ location: expect.stringMatching(LOCATION) });
    expect('location' in first && first.location.startsWith(`${runId}/`)).toBe(true);
    expect(second).not.toEqual(first);
    const calls = s3Mock.commandCalls(PutObjectCommand);
    expect(calls[0]!.args[0].input).toEqual({
      Bucket: bucket,
      Key: 'location' in first ? first.location : '',
      Body: sealed,
      ContentType: 'application/octet-stream',
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: kmsKeyId,
      BucketKeyEnabled: true,
    });
  });

  it('gets the bytes put at a location, and undefined for one that is gone', async () => {
    // Prepare
    const sealed = randomBytes(64);
    const kept = `${runId}/validated-${randomUUID()}`;
    const gone = `${runId}/validated-${randomUUID()}`;
    s3Mock.on(GetObjectCommand, { Bucket: bucket, Key: kept }).resolves({ Body: body(sealed) });
    s3Mock
      .on(GetObjectCommand, { Bucket: bucket, Key: gone })
      .rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }));

    // Act
    const read = await store.get(kept);
    const missing = await store.get(gone);

    // Assess
    expect(read).toEqual(sealed);
    expect(missing).toBeUndefined();
  });

  it('refuses a location no put returned, without asking S3', async () => {
    // Act
    const thrown = await thrownBy(() => store.get('../other-bucket/object'));

    // Assess
    expect(thrown).toBeInstanceOf(InternalError);
    expect(s3Mock.calls()).toEqual([]);
  });

  it('discards one object by its location', async () => {
    // Prepare
    s3Mock.on(DeleteObjectCommand).resolves({});
    const location = `${runId}/consented-${randomUUID()}`;

    // Act
    await store.discard(location);

    // Assess
    expect(s3Mock.commandCalls(DeleteObjectCommand)[0]!.args[0].input).toEqual({
      Bucket: bucket,
      Key: location,
    });
  });

  it('purges a run by its prefix, page after page', async () => {
    // Prepare
    const keys = Array.from({ length: 3 }, () => `${runId}/received-${randomUUID()}`);
    s3Mock
      .on(ListObjectsV2Command, { Bucket: bucket, Prefix: `${runId}/` })
      .resolves({
        Contents: [{ Key: keys[0]! }, { Key: keys[1]! }],
        IsTruncated: true,
        NextContinuationToken: 'page-2',
      })
      .on(ListObjectsV2Command, {
        Bucket: bucket,
        Prefix: `${runId}/`,
        ContinuationToken: 'page-2',
      })
      .resolves({ Contents: [{ Key: keys[2]! }], IsTruncated: false });
    s3Mock.on(DeleteObjectsCommand).resolves({});

    // Act
    await store.purgeRun(runId);

    // Assess
    expect(s3Mock.commandCalls(DeleteObjectsCommand).map((call) => call.args[0].input)).toEqual([
      { Bucket: bucket, Delete: { Objects: [{ Key: keys[0] }, { Key: keys[1] }], Quiet: true } },
      { Bucket: bucket, Delete: { Objects: [{ Key: keys[2] }], Quiet: true } },
    ]);
  });

  it('deletes nothing for a run without objects, and fails when S3 keeps some', async () => {
    // Prepare
    const other = randomUUID();
    s3Mock.on(ListObjectsV2Command, { Prefix: `${runId}/` }).resolves({ KeyCount: 0 });
    s3Mock
      .on(ListObjectsV2Command, { Prefix: `${other}/` })
      .resolves({ Contents: [{ Key: `${other}/received-${randomUUID()}` }] });
    s3Mock.on(DeleteObjectsCommand).resolves({ Errors: [{ Code: 'AccessDenied' }] });

    // Act
    await store.purgeRun(runId);
    const thrown = await thrownBy(() => store.purgeRun(other));

    // Assess
    expect(s3Mock.commandCalls(DeleteObjectsCommand)).toHaveLength(1);
    expect(thrown).toBeInstanceOf(InternalError);
  });

  it.each(casesOf(TRANSIENT_FAILURES))(
    'maps a failed %s (%s) to PayloadStoreUnavailableError, which the ASL retries',
    async (operation, _label, failure) => {
      // Prepare
      const error = failure();
      OPERATIONS[operation].fail(s3Mock, error);

      // Act
      const thrown = await thrownBy(() => OPERATIONS[operation].call(store));

      // Assess
      expect(thrown).toBeInstanceOf(PayloadStoreUnavailableError);
      expect(thrown).toMatchObject({ retryable: true, cause: error });
      expect(RETRYABLE_ERROR_NAMES).toContain((thrown as Error).name);
      expect((thrown as Error).message).toBe(`S3 ${operation} unavailable (${error.name})`);
    },
  );

  it.each(casesOf(REFUSALS))(
    'maps a refused %s (%s) to InternalError, which is not retried',
    async (operation, _label, failure) => {
      // Prepare
      const error = failure();
      OPERATIONS[operation].fail(s3Mock, error);

      // Act
      const thrown = await thrownBy(() => OPERATIONS[operation].call(store));

      // Assess
      expect(thrown).toBeInstanceOf(InternalError);
      expect(thrown).toMatchObject({ retryable: false, cause: error });
      expect((thrown as Error).message).toBe(`S3 ${operation} refused (${error.name})`);
      expect((thrown as Error).message).not.toContain(runId);
    },
  );

  it('retries an object whose body the network cut off while it was read', async () => {
    // Prepare
    const cut = Object.assign(new Error('Premature close'), {
      code: 'ERR_STREAM_PREMATURE_CLOSE',
    });
    s3Mock.on(GetObjectCommand).resolves({
      Body: {
        transformToByteArray: async () => {
          throw cut;
        },
      } as never,
    });

    // Act
    const thrown = await thrownBy(() => store.get(`${runId}/validated-${randomUUID()}`));

    // Assess
    expect(thrown).toBeInstanceOf(PayloadStoreUnavailableError);
    expect(thrown).toMatchObject({ cause: cut });
  });

  it('reads a 404 without its code as a missing object, and a missing bucket as a fault', async () => {
    // Prepare
    const gone = `${runId}/validated-${randomUUID()}`;
    const elsewhere = `${runId}/validated-${randomUUID()}`;
    s3Mock
      .on(GetObjectCommand, { Key: gone })
      .rejects(s3Error('NotFound', 404))
      .on(GetObjectCommand, { Key: elsewhere })
      .rejects(
        new NoSuchBucket({
          message: 'The specified bucket does not exist',
          $metadata: { httpStatusCode: 404 },
        }),
      );

    // Act
    const missing = await store.get(gone);
    const thrown = await thrownBy(() => store.get(elsewhere));

    // Assess
    expect(missing).toBeUndefined();
    expect(thrown).toBeInstanceOf(InternalError);
  });

  it('retries a purge whose every undeleted object S3 was too busy for, and fails one it refused', async () => {
    // Prepare
    const busy = randomUUID();
    const refused = randomUUID();
    for (const run of [busy, refused]) {
      s3Mock.on(ListObjectsV2Command, { Prefix: `${run}/` }).resolves({
        Contents: [
          { Key: `${run}/received-${randomUUID()}` },
          { Key: `${run}/validated-${randomUUID()}` },
        ],
      });
    }
    s3Mock
      .on(DeleteObjectsCommand)
      .resolvesOnce({ Errors: [{ Code: 'SlowDown' }, { Code: 'InternalError' }] })
      .resolvesOnce({ Errors: [{ Code: 'SlowDown' }, { Code: 'AccessDenied' }] });

    // Act
    const retried = await thrownBy(() => store.purgeRun(busy));
    const failed = await thrownBy(() => store.purgeRun(refused));

    // Assess
    expect(retried).toBeInstanceOf(PayloadStoreUnavailableError);
    expect(failed).toBeInstanceOf(InternalError);
  });
});
