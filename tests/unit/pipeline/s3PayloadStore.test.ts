import { randomBytes, randomUUID } from 'node:crypto';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { InternalError } from '../../../lib/errors.ts';
import { S3PayloadStore } from '../../../lib/pipeline/s3PayloadStore.ts';
import { thrownBy } from '../../helpers/thrown.ts';

const bucket = 'healthcare-etl-dev-payloadbucket-abc123';
const kmsKeyId = 'arn:aws:kms:us-east-1:000000000000:key/pipeline';
const runId = randomUUID();
const LOCATION = /^[0-9a-f-]{36}\/validated-[0-9a-f-]{36}$/;

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
});
