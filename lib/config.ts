import { dirname, join } from 'node:path';
import { ConfigError } from './errors.ts';

/**
 * The one validated configuration object. Read once at cold start; every
 * variable that is missing or malformed fails here, by name.
 */
export interface Config {
  readonly databaseUrl: string;
  readonly database: {
    readonly poolMax: number;
    readonly statementTimeoutMs: number;
    readonly ssl: boolean;
  };
  readonly keys: KeyConfig;
  readonly auditCheckpoints: CheckpointConfig;
  readonly payloads: PayloadConfig;
  readonly keyCache: {
    readonly maxAgeMs: number;
    readonly maxUses: number;
  };
  readonly ingest: {
    readonly maxRecordsPerBatch: number;
  };
  readonly auth: AuthConfig;
  /** Per bearer token: a bucket of `burst` requests refilled at `perMinute`. */
  readonly rateLimit: {
    readonly perMinute: number;
    readonly burst: number;
  };
  readonly workflow: {
    /** The ingest state machine; runs are started on it by name = runId. */
    readonly stateMachineArn: string | undefined;
    /** Step Functions endpoint override: the embedded stack's local endpoint, or LocalStack. */
    readonly endpoint: string | undefined;
    readonly region: string | undefined;
  };
  readonly queues: QueueConfig;
  /** The run reconciler: runs no stage advanced for a while, checked against their execution. */
  readonly reconcile: {
    /** A queued or running run is idle once no stage has advanced it for this long. */
    readonly idleSeconds: number;
    /** How many idle runs one scheduled pass checks, the longest idle first. */
    readonly maxRuns: number;
  };
  /** The scheduled purges of what nothing reads any more (lib/db/retention.ts). */
  readonly purge: {
    /** The most rows each purge deletes in one pass. */
    readonly batchSize: number;
  };
  readonly logLevel: LogLevel;
}

export interface QueueConfig {
  /** SQS endpoint override: LocalStack. */
  readonly endpoint: string | undefined;
  readonly region: string | undefined;
  /** Where Publish sends run outcomes; unset, they go to the pipeline_events table (embedded). */
  readonly pipelineEventsUrl: string | undefined;
  /** ingest-queue's dead-letter queue: where its consumer puts a message that can never succeed. */
  readonly ingestDeadLetterUrl: string | undefined;
  /** The principal batches from ingest-queue are recorded under. */
  readonly ingestActor: string;
}

export interface AuthConfig {
  readonly issuer: string;
  readonly audience: string;
  readonly keys:
    | { readonly kind: 'jwks'; readonly jwksUrl: string }
    | {
        readonly kind: 'secret';
        /** AUTH_JWT_SECRET when set; otherwise the secret lives in secretFile (created on first use). */
        readonly secret: Buffer | undefined;
        readonly secretFile: string;
      };
}

export type KeyConfig =
  | {
      readonly provider: 'kms';
      readonly keyId: string;
      /** The HMAC_256 KMS key (AUDIT_MAC_KEY_ID) that seals the audit chain and its checkpoints. */
      readonly auditMacKeyId: string;
      readonly endpoint: string | undefined;
      readonly region: string | undefined;
    }
  | {
      readonly provider: 'local';
      /** LOCAL_MASTER_KEY when set; otherwise the key lives in masterKeyFile (created on first use). */
      readonly masterKey: Buffer | undefined;
      readonly masterKeyFile: string;
    };

/** Where signed checkpoints of the audit chain are kept, outside the database. */
export type CheckpointConfig =
  | {
      readonly store: 's3';
      /** AUDIT_CHECKPOINT_BUCKET: a bucket with Object Lock on. */
      readonly bucket: string;
      readonly endpoint: string | undefined;
      readonly region: string | undefined;
    }
  | {
      readonly store: 'directory';
      /** AUDIT_CHECKPOINT_DIR; by default audit-checkpoints beside the local master key file. */
      readonly directory: string;
    };

/** Where the claim check's sealed payloads are kept (stage_payloads records each one). */
export type PayloadConfig =
  | {
      readonly store: 's3';
      /** PAYLOAD_BUCKET: its objects are encrypted under KMS_KEY_ID, the pipeline's key. */
      readonly bucket: string;
      readonly kmsKeyId: string;
      readonly endpoint: string | undefined;
      readonly region: string | undefined;
    }
  | {
      readonly store: 'directory';
      /** PAYLOAD_DIR; by default payloads beside the local master key file. */
      readonly directory: string;
    }
  | {
      readonly store: 'postgres';
      /**
       * Where payloads went before PAYLOAD_STORE=postgres (PAYLOAD_DIR, or its default): runs
       * that recorded them there are still read and purged from it.
       */
      readonly directory: string;
    };

export const PAYLOAD_STORES = ['directory', 'postgres'] as const;

/**
 * How long a queued or running run may go without a stage advancing it before its execution
 * is checked. Only the execution's own status is acted on, so the bound need only exceed the
 * time a start takes to reach the workflow service.
 */
export const DEFAULT_RUN_IDLE_SECONDS = 300;

export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type Environment = Readonly<Record<string, string | undefined>>;

function optional(env: Environment, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function required(env: Environment, name: string, what: string): string {
  const value = optional(env, name);
  if (value === undefined) throw new ConfigError(`${name} is required: ${what}`);
  return value;
}

function integer(
  env: Environment,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got '${raw}'`);
  }
  return value;
}

function boolean(env: Environment, name: string, fallback: boolean): boolean {
  const raw = optional(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(`${name} must be true or false, got '${raw}'`);
}

function oneOf<T extends string>(
  env: Environment,
  name: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const raw = optional(env, name)?.toUpperCase();
  if (raw === undefined) return fallback;
  const match = allowed.find((value) => value === raw);
  if (match === undefined) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got '${raw}'`);
  }
  return match;
}

function databaseUrl(env: Environment): string {
  const value = required(env, 'DATABASE_URL', 'the PostgreSQL connection string');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError('DATABASE_URL must be a postgres:// URL');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError('DATABASE_URL must be a postgres:// URL');
  }
  return value;
}

function masterKey(env: Environment): Buffer | undefined {
  const raw = optional(env, 'LOCAL_MASTER_KEY');
  if (raw === undefined) return undefined;
  const key = Buffer.from(raw, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(raw) || key.length !== 32) {
    throw new ConfigError('LOCAL_MASTER_KEY must be the base64 encoding of exactly 32 bytes');
  }
  return key;
}

function keys(env: Environment): KeyConfig {
  const keyId = optional(env, 'KMS_KEY_ID');
  if (keyId !== undefined) {
    const endpoint = url(env, 'KMS_ENDPOINT');
    return {
      provider: 'kms',
      keyId,
      auditMacKeyId: required(
        env,
        'AUDIT_MAC_KEY_ID',
        'the HMAC_256 KMS key that seals the audit chain, beside KMS_KEY_ID',
      ),
      endpoint,
      region: optional(env, 'AWS_REGION') ?? optional(env, 'AWS_DEFAULT_REGION'),
    };
  }
  return {
    provider: 'local',
    masterKey: masterKey(env),
    masterKeyFile: optional(env, 'LOCAL_MASTER_KEY_FILE') ?? '.data/master.key',
  };
}

function auditCheckpoints(env: Environment): CheckpointConfig {
  const bucket = optional(env, 'AUDIT_CHECKPOINT_BUCKET');
  if (bucket !== undefined) {
    return {
      store: 's3',
      bucket,
      endpoint: url(env, 'S3_ENDPOINT'),
      region: optional(env, 'AWS_REGION') ?? optional(env, 'AWS_DEFAULT_REGION'),
    };
  }
  const keyFile = optional(env, 'LOCAL_MASTER_KEY_FILE') ?? '.data/master.key';
  return {
    store: 'directory',
    directory: optional(env, 'AUDIT_CHECKPOINT_DIR') ?? join(dirname(keyFile), 'audit-checkpoints'),
  };
}

function payloads(env: Environment): PayloadConfig {
  const bucket = optional(env, 'PAYLOAD_BUCKET');
  if (bucket !== undefined) {
    return {
      store: 's3',
      bucket,
      kmsKeyId: required(env, 'KMS_KEY_ID', 'the KMS key the payload bucket encrypts under'),
      endpoint: url(env, 'S3_ENDPOINT'),
      region: optional(env, 'AWS_REGION') ?? optional(env, 'AWS_DEFAULT_REGION'),
    };
  }
  const raw = optional(env, 'PAYLOAD_STORE')?.toLowerCase() ?? 'directory';
  const store = PAYLOAD_STORES.find((name) => name === raw);
  if (store === undefined) {
    throw new ConfigError(
      `PAYLOAD_STORE must be one of ${PAYLOAD_STORES.join(', ')}, got '${raw}'`,
    );
  }
  const keyFile = optional(env, 'LOCAL_MASTER_KEY_FILE') ?? '.data/master.key';
  return {
    store,
    directory: optional(env, 'PAYLOAD_DIR') ?? join(dirname(keyFile), 'payloads'),
  };
}

function url(env: Environment, name: string): string | undefined {
  const value = optional(env, name);
  if (value !== undefined && !/^https?:$/.test(URL.parse(value)?.protocol ?? '')) {
    throw new ConfigError(`${name} must be an http(s) URL`);
  }
  return value;
}

const ACTOR = /^[\x21-\x7e]{1,255}$/;

function queues(env: Environment): QueueConfig {
  const ingestActor = optional(env, 'INGEST_QUEUE_ACTOR') ?? 'system:ingest-queue';
  if (!ACTOR.test(ingestActor)) {
    throw new ConfigError('INGEST_QUEUE_ACTOR must be 1 to 255 visible ASCII characters');
  }
  return {
    endpoint: url(env, 'SQS_ENDPOINT'),
    region: optional(env, 'AWS_REGION') ?? optional(env, 'AWS_DEFAULT_REGION'),
    pipelineEventsUrl: url(env, 'PIPELINE_EVENTS_QUEUE_URL'),
    ingestDeadLetterUrl: url(env, 'INGEST_QUEUE_DLQ_URL'),
    ingestActor,
  };
}

/** Authentication settings alone: what a token-minting tool needs, without a database. */
export function authConfig(env: Environment): AuthConfig {
  const issuer = optional(env, 'AUTH_ISSUER') ?? 'healthcare-etl-local';
  const audience = optional(env, 'AUTH_AUDIENCE') ?? 'healthcare-etl-api';
  const jwksUrl = url(env, 'AUTH_JWKS_URL');
  if (jwksUrl !== undefined) return { issuer, audience, keys: { kind: 'jwks', jwksUrl } };
  const raw = optional(env, 'AUTH_JWT_SECRET');
  const secret = raw === undefined ? undefined : Buffer.from(raw, 'base64');
  if (raw !== undefined && (!/^[A-Za-z0-9+/]+={0,2}$/.test(raw) || (secret?.length ?? 0) < 32)) {
    throw new ConfigError('AUTH_JWT_SECRET must be the base64 encoding of at least 32 bytes');
  }
  return {
    issuer,
    audience,
    keys: {
      kind: 'secret',
      secret,
      secretFile: optional(env, 'AUTH_JWT_SECRET_FILE') ?? '.data/jwt-secret',
    },
  };
}

/** Settings that need no database: what health, docs and the OpenAPI document read. */
export function publicSettings(env: Environment): Pick<Config, 'ingest' | 'logLevel'> {
  return {
    ingest: { maxRecordsPerBatch: integer(env, 'MAX_RECORDS_PER_BATCH', 5000, 1, 100_000) },
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'INFO'),
  };
}

export function loadConfig(env: Environment): Config {
  return {
    databaseUrl: databaseUrl(env),
    database: {
      poolMax: integer(env, 'DB_POOL_MAX', 5, 1, 100),
      statementTimeoutMs: integer(env, 'DB_STATEMENT_TIMEOUT_MS', 30_000, 100, 900_000),
      ssl: boolean(env, 'DB_SSL', false),
    },
    keys: keys(env),
    auditCheckpoints: auditCheckpoints(env),
    payloads: payloads(env),
    keyCache: {
      maxAgeMs: integer(env, 'DATA_KEY_CACHE_MAX_AGE_SECONDS', 300, 1, 86_400) * 1000,
      maxUses: integer(env, 'DATA_KEY_CACHE_MAX_USES', 10_000, 1, 10_000_000),
    },
    ...publicSettings(env),
    auth: authConfig(env),
    rateLimit: {
      perMinute: integer(env, 'RATE_LIMIT_PER_MINUTE', 600, 1, 1_000_000),
      burst: integer(env, 'RATE_LIMIT_BURST', 120, 1, 1_000_000),
    },
    workflow: {
      stateMachineArn: optional(env, 'STATE_MACHINE_ARN'),
      endpoint: url(env, 'STEP_FUNCTIONS_ENDPOINT'),
      region: optional(env, 'AWS_REGION') ?? optional(env, 'AWS_DEFAULT_REGION'),
    },
    queues: queues(env),
    reconcile: {
      idleSeconds: integer(env, 'RECONCILE_IDLE_SECONDS', DEFAULT_RUN_IDLE_SECONDS, 1, 86_400),
      maxRuns: integer(env, 'RECONCILE_MAX_RUNS', 100, 1, 10_000),
    },
    purge: { batchSize: integer(env, 'PURGE_BATCH_SIZE', 10_000, 1, 100_000) },
  };
}

let cached: Config | undefined;

/** The process's configuration, read from the environment on first use. */
export function config(): Config {
  cached ??= loadConfig(process.env);
  return cached;
}
