import { Logger } from '@aws-lambda-powertools/logger';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { CheckpointStore } from './audit/auditCheckpoints.ts';
import { DirectoryCheckpointStore } from './audit/directoryCheckpointStore.ts';
import { S3CheckpointStore } from './audit/s3CheckpointStore.ts';
import { createTokenVerifier, type TokenVerifier } from './auth/tokens.ts';
import { createAwsClient } from './aws/clients.ts';
import {
  type CheckpointConfig,
  type Config,
  config,
  type KeyConfig,
  type PayloadConfig,
  publicSettings,
} from './config.ts';
import type { AuditMac } from './crypto/auditMac.ts';
import { DataKeyCache } from './crypto/dataKeyCache.ts';
import { Keyring } from './crypto/keyring.ts';
import type { KeyService } from './crypto/keyService.ts';
import { KmsAuditMac } from './crypto/kmsAuditMac.ts';
import { KmsKeyService } from './crypto/kmsKeyService.ts';
import { LocalAuditMac } from './crypto/localAuditMac.ts';
import { LocalKeyService } from './crypto/localKeyService.ts';
import { loadLocalMasterKey } from './crypto/masterKey.ts';
import { createPool, type Pool } from './db/pool.ts';
import { ConfigError } from './errors.ts';
import { type EventSink, TableEventSink } from './events/eventSink.ts';
import { SqsEventSink } from './events/sqsEventSink.ts';
import type { PipelineDependencies, WorkflowStarter } from './pipeline/dependencies.ts';
import { DirectoryPayloadStore } from './pipeline/directoryPayloadStore.ts';
import type { IntakeDependencies } from './pipeline/intake.ts';
import { type PayloadStore, PostgresPayloadStore } from './pipeline/payloadStore.ts';
import { S3PayloadStore } from './pipeline/s3PayloadStore.ts';
import { SqsDeadLetterQueue } from './queue/deadLetterQueue.ts';
import type { IngestQueueDependencies } from './queue/ingestQueue.ts';
import { SfnWorkflowStarter } from './workflow/workflowStarter.ts';

/**
 * The composition root: the only place that turns configuration into adapters.
 * Which adapter runs (KMS or the local key service, ...) is decided by configuration alone.
 */
export function createKeyService(keys: KeyConfig): KeyService {
  if (keys.provider === 'kms') {
    return new KmsKeyService({
      client: createAwsClient(KMSClient, { endpoint: keys.endpoint, region: keys.region }),
      keyId: keys.keyId,
    });
  }
  return new LocalKeyService(loadLocalMasterKey(keys));
}

/** The audit chain's MAC: an HMAC_256 KMS key beside the master key, or one derived from the local master key. */
export function createAuditMac(keys: KeyConfig): AuditMac {
  if (keys.provider === 'kms') {
    return new KmsAuditMac({
      client: createAwsClient(KMSClient, { endpoint: keys.endpoint, region: keys.region }),
      keyId: keys.auditMacKeyId,
    });
  }
  return new LocalAuditMac(loadLocalMasterKey(keys));
}

/** The audit chain's checkpoints: an Object Lock bucket, or a directory in embedded mode. */
export function createCheckpointStore(settings: CheckpointConfig): CheckpointStore {
  if (settings.store === 'directory') return new DirectoryCheckpointStore(settings.directory);
  const { bucket, endpoint, region } = settings;
  return new S3CheckpointStore({ client: createS3Client(endpoint, region), bucket });
}

/** The claim check's payloads: a bucket when deployed, a directory or stage_payloads itself embedded. */
export function createPayloadStore(settings: PayloadConfig): PayloadStore {
  if (settings.store === 'postgres') {
    return new PostgresPayloadStore(new DirectoryPayloadStore(settings.directory));
  }
  if (settings.store === 'directory') return new DirectoryPayloadStore(settings.directory);
  const { bucket, kmsKeyId, endpoint, region } = settings;
  return new S3PayloadStore({ client: createS3Client(endpoint, region), bucket, kmsKeyId });
}

function createS3Client(endpoint: string | undefined, region: string | undefined): S3Client {
  // LocalStack serves buckets by path, not by virtual host.
  return new S3Client({
    ...(endpoint === undefined ? {} : { endpoint, forcePathStyle: true }),
    ...(region === undefined ? {} : { region }),
  });
}

export function createLogger(settings: Pick<Config, 'logLevel'>): Logger {
  return new Logger({ serviceName: 'healthcare-etl', logLevel: settings.logLevel });
}

/** Run outcomes go to the pipeline-events queue when PIPELINE_EVENTS_QUEUE_URL names one, else to a table. */
export function createEventSink(settings: Pick<Config, 'queues'>, pool: Pool): EventSink {
  const { pipelineEventsUrl } = settings.queues;
  if (pipelineEventsUrl === undefined) return new TableEventSink(pool);
  return new SqsEventSink({
    client: createAwsClient(SQSClient, settings.queues),
    queueUrl: pipelineEventsUrl,
  });
}

export function createPipelineDependencies(settings: Config): PipelineDependencies {
  const pool = createPool(settings);
  return {
    pool,
    keyring: new Keyring(createKeyService(settings.keys), new DataKeyCache(settings.keyCache)),
    auditMac: createAuditMac(settings.keys),
    auditCheckpoints: createCheckpointStore(settings.auditCheckpoints),
    payloadStore: createPayloadStore(settings.payloads),
    events: createEventSink(settings, pool),
    logger: createLogger(settings),
    now: () => new Date(),
  };
}

let shared: PipelineDependencies | undefined;

/** This process's dependencies, built on first use (a Lambda's cold start) from the environment. */
export function pipelineDependencies(): PipelineDependencies {
  shared ??= createPipelineDependencies(config());
  return shared;
}

export function createWorkflowStarter(settings: Config): WorkflowStarter {
  const { stateMachineArn, endpoint, region } = settings.workflow;
  if (stateMachineArn === undefined) {
    throw new ConfigError('STATE_MACHINE_ARN is required: the state machine that runs ingests');
  }
  return new SfnWorkflowStarter({
    client: createAwsClient(SFNClient, { endpoint, region }),
    stateMachineArn,
  });
}

let intake: IntakeDependencies | undefined;

/** What the ingest entry points (API, queue) need: the pipeline's ports and the workflow starter. */
export function intakeDependencies(): IntakeDependencies {
  intake ??= {
    ...pipelineDependencies(),
    workflow: createWorkflowStarter(config()),
    maxRecordsPerBatch: config().ingest.maxRecordsPerBatch,
    runIdleSeconds: config().reconcile.idleSeconds,
  };
  return intake;
}

export function createIngestQueueDependencies(
  settings: Pick<Config, 'queues'>,
  intake: IntakeDependencies,
): IngestQueueDependencies {
  const { ingestDeadLetterUrl, ingestActor } = settings.queues;
  if (ingestDeadLetterUrl === undefined) {
    throw new ConfigError(
      'INGEST_QUEUE_DLQ_URL is required: where the ingest-queue consumer puts messages that can never succeed',
    );
  }
  return {
    intake,
    deadLetters: new SqsDeadLetterQueue({
      client: createAwsClient(SQSClient, settings.queues),
      queueUrl: ingestDeadLetterUrl,
    }),
    actor: ingestActor,
  };
}

let ingestQueue: IngestQueueDependencies | undefined;

/** What the ingest-queue consumer needs: intake's dependencies, the dead-letter queue and its principal. */
export function ingestQueueDependencies(): IngestQueueDependencies {
  ingestQueue ??= createIngestQueueDependencies(config(), intakeDependencies());
  return ingestQueue;
}

let verifier: TokenVerifier | undefined;

/** One verifier per process: with JWKS it caches the issuer's keys. */
export function tokenVerifier(): TokenVerifier {
  verifier ??= createTokenVerifier(config().auth);
  return verifier;
}

let logger: Logger | undefined;

/** The logger of the HTTP layer: built without the database settings, so health and docs need none. */
export function processLogger(): Logger {
  logger ??= createLogger(publicSettings(process.env));
  return logger;
}
