import { randomBytes } from 'node:crypto';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  type AuditCheckpoint,
  CheckpointFormatError,
  encodeCheckpoint,
} from '../../../lib/audit/auditCheckpoints.ts';
import { S3CheckpointStore } from '../../../lib/audit/s3CheckpointStore.ts';

const bucket = 'healthcare-etl-dev-auditcheckpointbucket-abc123';

const checkpoint = (seq: string): AuditCheckpoint => ({
  seq,
  hash: randomBytes(32),
  at: new Date('2026-12-03T10:00:00.000Z'),
  mac: randomBytes(32),
  macKeyId: 'arn:aws:kms:us-east-1:000000000000:key/mac',
});

/** The one method of the SDK's streaming body the store reads (the mock takes it as the full type). */
const body = (text: string) => ({ transformToString: async () => text }) as never;

describe('S3CheckpointStore', () => {
  const s3Mock = mockClient(S3Client);
  const store = new S3CheckpointStore({ client: new S3Client({ region: 'us-east-1' }), bucket });

  beforeEach(() => {
    s3Mock.reset();
  });

  it('puts each checkpoint under a key that sorts newest first, with a SHA-256 checksum as Object Lock requires', async () => {
    // Prepare
    s3Mock.on(PutObjectCommand).resolves({});
    const written = checkpoint('42');

    // Act
    await store.write(written);

    // Assess
    const calls = s3Mock.commandCalls(PutObjectCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({
      Bucket: bucket,
      Key: 'audit-checkpoints/9223372036854775765-42.json',
      Body: encodeCheckpoint(written),
      ContentType: 'application/json',
      ChecksumAlgorithm: 'SHA256',
      IfNoneMatch: '*',
    });
  });

  it.each([
    ['PreconditionFailed', 412],
    ['ConditionalRequestConflict', 409],
  ])('leaves the checkpoint of a seq already written in place (%s)', async (name, status) => {
    // Prepare
    s3Mock
      .on(PutObjectCommand)
      .rejects(Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } }));

    // Act
    const written = store.write(checkpoint('42'));

    // Assess
    await expect(written).resolves.toBeUndefined();
  });

  it('passes on any other failure to write', async () => {
    // Prepare
    s3Mock.on(PutObjectCommand).rejects(
      Object.assign(new Error('AccessDenied'), {
        name: 'AccessDenied',
        $metadata: { httpStatusCode: 403 },
      }),
    );

    // Act
    const written = store.write(checkpoint('42'));

    // Assess
    await expect(written).rejects.toMatchObject({ name: 'AccessDenied' });
  });

  it('reads the latest checkpoint as the first key of one listing (MaxKeys 1)', async () => {
    // Prepare
    const latest = checkpoint('1000');
    const key = 'audit-checkpoints/9223372036854774807-1000.json';
    s3Mock.on(ListObjectsV2Command).resolves({ Contents: [{ Key: key }] });
    s3Mock.on(GetObjectCommand, { Bucket: bucket, Key: key }).resolves({
      Body: body(encodeCheckpoint(latest)),
    });

    // Act
    const read = await store.latest();

    // Assess
    expect(s3Mock.commandCalls(ListObjectsV2Command)[0]!.args[0].input).toEqual({
      Bucket: bucket,
      Prefix: 'audit-checkpoints/',
      MaxKeys: 1,
    });
    expect(read).toStrictEqual(latest);
  });

  it('has no latest checkpoint in an empty bucket', async () => {
    // Prepare
    s3Mock.on(ListObjectsV2Command).resolves({ KeyCount: 0 });

    // Act
    const read = await store.latest();

    // Assess
    expect(read).toBeUndefined();
    expect(s3Mock.commandCalls(GetObjectCommand)).toHaveLength(0);
  });

  it('refuses an object that is no checkpoint with CheckpointFormatError', async () => {
    // Prepare
    s3Mock.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'audit-checkpoints/x.json' }] });
    s3Mock.on(GetObjectCommand).resolves({ Body: body('{"seq":"1"}') });

    // Act
    const error = await store.latest().then(
      () => undefined,
      (thrown: unknown) => thrown,
    );

    // Assess
    expect(error).toBeInstanceOf(CheckpointFormatError);
  });
});
