import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DirectoryCheckpointStore } from '../../lib/audit/directoryCheckpointStore.ts';
import { S3CheckpointStore } from '../../lib/audit/s3CheckpointStore.ts';
import { loadConfig } from '../../lib/config.ts';
import { KmsAuditMac } from '../../lib/crypto/kmsAuditMac.ts';
import { LocalAuditMac } from '../../lib/crypto/localAuditMac.ts';
import type { Pool } from '../../lib/db/pool.ts';
import { ConfigError } from '../../lib/errors.ts';
import { TableEventSink } from '../../lib/events/eventSink.ts';
import { SqsEventSink } from '../../lib/events/sqsEventSink.ts';
import { DirectoryPayloadStore } from '../../lib/pipeline/directoryPayloadStore.ts';
import type { IntakeDependencies } from '../../lib/pipeline/intake.ts';
import { PostgresPayloadStore } from '../../lib/pipeline/payloadStore.ts';
import { S3PayloadStore } from '../../lib/pipeline/s3PayloadStore.ts';
import { SqsDeadLetterQueue } from '../../lib/queue/deadLetterQueue.ts';
import {
  createAuditMac,
  createCheckpointStore,
  createEventSink,
  createIngestQueueDependencies,
  createPayloadStore,
} from '../../lib/runtime.ts';

const DATABASE_URL = 'postgres://etl@localhost:5432/etl';
const QUEUES = 'https://sqs.us-east-1.amazonaws.com/000000000000';
// Neither factory touches the pool or intake's ports: they are only handed on.
const pool = {} as Pool;
const intake = {} as IntakeDependencies;

describe('createEventSink', () => {
  it.each([
    ['the pipeline_events table without PIPELINE_EVENTS_QUEUE_URL (embedded)', {}, TableEventSink],
    [
      'the pipeline-events queue with PIPELINE_EVENTS_QUEUE_URL',
      { PIPELINE_EVENTS_QUEUE_URL: `${QUEUES}/pipeline-events` },
      SqsEventSink,
    ],
  ])('sends run outcomes to %s', (_, env, expected) => {
    // Prepare
    const settings = loadConfig({ DATABASE_URL, ...env });

    // Act
    const sink = createEventSink(settings, pool);

    // Assess
    expect(sink).toBeInstanceOf(expected);
  });
});

describe('createAuditMac', () => {
  it('uses the HMAC KMS key AUDIT_MAC_KEY_ID names beside KMS_KEY_ID', () => {
    // Prepare
    const settings = loadConfig({
      DATABASE_URL,
      KMS_KEY_ID: 'alias/healthcare-etl',
      AUDIT_MAC_KEY_ID: 'alias/healthcare-etl-audit-mac',
    });

    // Act
    const mac = createAuditMac(settings.keys);

    // Assess
    expect(mac).toBeInstanceOf(KmsAuditMac);
    expect(mac.keyId).toBe('alias/healthcare-etl-audit-mac');
  });

  it('derives one from the local master key without KMS_KEY_ID', () => {
    // Prepare
    const settings = loadConfig({
      DATABASE_URL,
      LOCAL_MASTER_KEY: randomBytes(32).toString('base64'),
    });

    // Act
    const mac = createAuditMac(settings.keys);

    // Assess
    expect(mac).toBeInstanceOf(LocalAuditMac);
  });
});

describe('createCheckpointStore', () => {
  it.each([
    [
      'the Object Lock bucket AUDIT_CHECKPOINT_BUCKET names',
      { AUDIT_CHECKPOINT_BUCKET: 'etl-checkpoints' },
      S3CheckpointStore,
      's3://etl-checkpoints/audit-checkpoints/',
    ],
    [
      'a directory beside the local master key file',
      { LOCAL_MASTER_KEY_FILE: '/var/etl/master.key' },
      DirectoryCheckpointStore,
      '/var/etl/audit-checkpoints',
    ],
  ])('keeps checkpoints in %s', (_, env, expected, location) => {
    // Prepare
    const settings = loadConfig({ DATABASE_URL, ...env });

    // Act
    const store = createCheckpointStore(settings.auditCheckpoints);

    // Assess
    expect(store).toBeInstanceOf(expected);
    expect(store.location).toBe(location);
  });
});

describe('createPayloadStore', () => {
  it.each([
    [
      'the bucket PAYLOAD_BUCKET names',
      { PAYLOAD_BUCKET: 'etl-payloads', KMS_KEY_ID: 'alias/etl', AUDIT_MAC_KEY_ID: 'alias/mac' },
      S3PayloadStore,
      's3://etl-payloads/',
    ],
    [
      'a directory beside the local master key file',
      { LOCAL_MASTER_KEY_FILE: '/var/etl/master.key' },
      DirectoryPayloadStore,
      '/var/etl/payloads',
    ],
    [
      'stage_payloads itself',
      { PAYLOAD_STORE: 'postgres' },
      PostgresPayloadStore,
      'stage_payloads',
    ],
  ])('keeps payloads in %s', (_, env, expected, location) => {
    // Prepare
    const settings = loadConfig({ DATABASE_URL, ...env });

    // Act
    const store = createPayloadStore(settings.payloads);

    // Assess
    expect(store).toBeInstanceOf(expected);
    expect(store.location).toBe(location);
  });
});

describe('createIngestQueueDependencies', () => {
  it('puts dead letters on INGEST_QUEUE_DLQ_URL and records runs under INGEST_QUEUE_ACTOR', () => {
    // Prepare
    const settings = loadConfig({
      DATABASE_URL,
      INGEST_QUEUE_DLQ_URL: `${QUEUES}/ingest-queue-dlq`,
      INGEST_QUEUE_ACTOR: 'system:partner-feed',
    });

    // Act
    const deps = createIngestQueueDependencies(settings, intake);

    // Assess
    expect(deps.deadLetters).toBeInstanceOf(SqsDeadLetterQueue);
    expect(deps.actor).toBe('system:partner-feed');
    expect(deps.intake).toBe(intake);
  });

  it('refuses to start without INGEST_QUEUE_DLQ_URL, by name', () => {
    // Prepare
    const settings = loadConfig({ DATABASE_URL });

    // Act
    const act = () => createIngestQueueDependencies(settings, intake);

    // Assess
    expect(act).toThrow(ConfigError);
    expect(act).toThrow(/INGEST_QUEUE_DLQ_URL/);
  });
});
