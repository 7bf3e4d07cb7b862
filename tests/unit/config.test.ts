import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Config, Environment } from '../../lib/config.ts';
import { loadConfig } from '../../lib/config.ts';
import { ConfigError } from '../../lib/errors.ts';
import { thrownBySync } from '../helpers/thrown.ts';

const DATABASE_URL = 'postgres://etl@localhost:5432/etl';

function withDatabase(env: Environment = {}): Environment {
  return { DATABASE_URL, ...env };
}

describe('loadConfig', () => {
  it('applies every default when only DATABASE_URL is set', () => {
    // Act
    const config = loadConfig(withDatabase());

    // Assess
    expect(config).toStrictEqual({
      databaseUrl: DATABASE_URL,
      database: { poolMax: 5, statementTimeoutMs: 30_000, ssl: false },
      keys: { provider: 'local', masterKey: undefined, masterKeyFile: '.data/master.key' },
      auditCheckpoints: { store: 'directory', directory: '.data/audit-checkpoints' },
      payloads: { store: 'directory', directory: '.data/payloads' },
      keyCache: { maxAgeMs: 300_000, maxUses: 10_000 },
      ingest: { maxRecordsPerBatch: 5000 },
      auth: {
        issuer: 'healthcare-etl-local',
        audience: 'healthcare-etl-api',
        keys: { kind: 'secret', secret: undefined, secretFile: '.data/jwt-secret' },
      },
      rateLimit: { perMinute: 600, burst: 120 },
      workflow: { stateMachineArn: undefined, endpoint: undefined, region: undefined },
      queues: {
        endpoint: undefined,
        region: undefined,
        pipelineEventsUrl: undefined,
        ingestDeadLetterUrl: undefined,
        ingestActor: 'system:ingest-queue',
      },
      reconcile: { idleSeconds: 300, maxRuns: 100 },
      purge: { batchSize: 10_000 },
      logLevel: 'INFO',
    } satisfies Config);
  });

  it('treats blank optional variables as unset', () => {
    // Prepare
    const env = withDatabase({ DB_POOL_MAX: '  ', DB_SSL: '', LOG_LEVEL: ' ', KMS_KEY_ID: '' });

    // Act
    const config = loadConfig(env);

    // Assess
    expect(config).toStrictEqual(loadConfig(withDatabase()));
  });

  describe('audit checkpoints', () => {
    it.each([
      [
        'beside LOCAL_MASTER_KEY_FILE',
        { LOCAL_MASTER_KEY_FILE: '/var/etl/master.key' },
        { store: 'directory', directory: '/var/etl/audit-checkpoints' },
      ],
      [
        'in AUDIT_CHECKPOINT_DIR',
        { LOCAL_MASTER_KEY_FILE: '/var/etl/master.key', AUDIT_CHECKPOINT_DIR: '/srv/checkpoints' },
        { store: 'directory', directory: '/srv/checkpoints' },
      ],
      [
        'in AUDIT_CHECKPOINT_BUCKET, through S3_ENDPOINT',
        {
          AUDIT_CHECKPOINT_BUCKET: 'etl-checkpoints',
          S3_ENDPOINT: 'http://localstack:4566',
          AWS_REGION: 'eu-west-1',
        },
        {
          store: 's3',
          bucket: 'etl-checkpoints',
          endpoint: 'http://localstack:4566',
          region: 'eu-west-1',
        },
      ],
    ])('keeps them %s', (_, env: Environment, expected) => {
      // Act
      const config = loadConfig(withDatabase(env));

      // Assess
      expect(config.auditCheckpoints).toStrictEqual(expected);
    });
  });

  describe('payloads', () => {
    it.each([
      [
        'beside LOCAL_MASTER_KEY_FILE',
        { LOCAL_MASTER_KEY_FILE: '/var/etl/master.key' },
        { store: 'directory', directory: '/var/etl/payloads' },
      ],
      [
        'in PAYLOAD_DIR',
        { LOCAL_MASTER_KEY_FILE: '/var/etl/master.key', PAYLOAD_DIR: '/srv/payloads' },
        { store: 'directory', directory: '/srv/payloads' },
      ],
      [
        'in stage_payloads with PAYLOAD_STORE=postgres',
        { LOCAL_MASTER_KEY_FILE: '/var/etl/master.key', PAYLOAD_STORE: 'postgres' },
        { store: 'postgres', directory: '/var/etl/payloads' },
      ],
      [
        'in PAYLOAD_BUCKET under KMS_KEY_ID, through S3_ENDPOINT, whatever PAYLOAD_STORE says',
        {
          PAYLOAD_BUCKET: 'etl-payloads',
          PAYLOAD_STORE: 'postgres',
          KMS_KEY_ID: 'alias/healthcare-etl',
          AUDIT_MAC_KEY_ID: 'alias/healthcare-etl-audit-mac',
          S3_ENDPOINT: 'http://localstack:4566',
          AWS_REGION: 'eu-west-1',
        },
        {
          store: 's3',
          bucket: 'etl-payloads',
          kmsKeyId: 'alias/healthcare-etl',
          endpoint: 'http://localstack:4566',
          region: 'eu-west-1',
        },
      ],
    ])('keeps them %s', (_, env: Environment, expected) => {
      // Act
      const config = loadConfig(withDatabase(env));

      // Assess
      expect(config.payloads).toStrictEqual(expected);
    });

    it.each([
      [
        'an unknown PAYLOAD_STORE',
        { PAYLOAD_STORE: 's3' },
        'PAYLOAD_STORE must be one of directory, postgres',
      ],
      [
        'PAYLOAD_BUCKET without KMS_KEY_ID',
        { PAYLOAD_BUCKET: 'etl-payloads' },
        'KMS_KEY_ID is required',
      ],
    ])('refuses %s', (_, env: Environment, message) => {
      // Act
      const thrown = thrownBySync(() => loadConfig(withDatabase(env)));

      // Assess
      expect(thrown).toBeInstanceOf(ConfigError);
      expect((thrown as Error).message).toContain(message);
    });
  });

  describe('DATABASE_URL', () => {
    it.each([
      ['postgres://', 'postgres://etl:secret@db.internal:5432/etl'],
      ['postgresql://', 'postgresql://etl@localhost/etl?sslmode=require'],
    ])('accepts a %s URL as given', (_, url) => {
      // Act
      const config = loadConfig({ DATABASE_URL: url });

      // Assess
      expect(config.databaseUrl).toBe(url);
    });

    it.each([
      ['missing', {}],
      ['blank', { DATABASE_URL: '   ' }],
      ['not a URL', { DATABASE_URL: 'localhost:5432/etl' }],
      ['a mysql:// URL', { DATABASE_URL: 'mysql://etl@localhost:3306/etl' }],
      ['an http:// URL', { DATABASE_URL: 'http://localhost:5432/etl' }],
    ])('is refused when %s, by name', (_, env: Environment) => {
      // Act
      const error = thrownBySync(() => loadConfig(env));

      // Assess
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toContain('DATABASE_URL');
    });

    it('does not repeat a refused URL, which may hold a password', () => {
      // Prepare
      const url = 'mysql://etl:s3cret-pw@db.internal:3306/etl';

      // Act
      const error = thrownBySync(() => loadConfig({ DATABASE_URL: url }));

      // Assess
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).not.toContain('s3cret-pw');
    });
  });

  describe('whole-number variables', () => {
    const integers: ReadonlyArray<{
      name: string;
      min: number;
      max: number;
      read: (config: Config) => number;
      unit: number;
    }> = [
      { name: 'DB_POOL_MAX', min: 1, max: 100, read: (c) => c.database.poolMax, unit: 1 },
      {
        name: 'DB_STATEMENT_TIMEOUT_MS',
        min: 100,
        max: 900_000,
        read: (c) => c.database.statementTimeoutMs,
        unit: 1,
      },
      {
        name: 'DATA_KEY_CACHE_MAX_AGE_SECONDS',
        min: 1,
        max: 86_400,
        read: (c) => c.keyCache.maxAgeMs,
        unit: 1000,
      },
      {
        name: 'DATA_KEY_CACHE_MAX_USES',
        min: 1,
        max: 10_000_000,
        read: (c) => c.keyCache.maxUses,
        unit: 1,
      },
      {
        name: 'MAX_RECORDS_PER_BATCH',
        min: 1,
        max: 100_000,
        read: (c) => c.ingest.maxRecordsPerBatch,
        unit: 1,
      },
      {
        name: 'RATE_LIMIT_PER_MINUTE',
        min: 1,
        max: 1_000_000,
        read: (c) => c.rateLimit.perMinute,
        unit: 1,
      },
      { name: 'RATE_LIMIT_BURST', min: 1, max: 1_000_000, read: (c) => c.rateLimit.burst, unit: 1 },
      {
        name: 'RECONCILE_IDLE_SECONDS',
        min: 1,
        max: 86_400,
        read: (c) => c.reconcile.idleSeconds,
        unit: 1,
      },
      {
        name: 'RECONCILE_MAX_RUNS',
        min: 1,
        max: 10_000,
        read: (c) => c.reconcile.maxRuns,
        unit: 1,
      },
      {
        name: 'PURGE_BATCH_SIZE',
        min: 1,
        max: 100_000,
        read: (c) => c.purge.batchSize,
        unit: 1,
      },
    ];

    const accepted = integers.flatMap(({ name, min, max, read, unit }) => [
      { name, raw: String(min), expected: min * unit, read },
      { name, raw: String(max), expected: max * unit, read },
      { name, raw: ` ${min + 1} `, expected: (min + 1) * unit, read },
    ]);

    it.each(accepted)('reads $name=$raw', ({ name, raw, expected, read }) => {
      // Act
      const config = loadConfig(withDatabase({ [name]: raw }));

      // Assess
      expect(read(config)).toBe(expected);
    });

    const refused = integers.flatMap(({ name, min, max }) =>
      [...new Set(['abc', '-1', '1.5', '1e3', '0x10', '0', String(min - 1), String(max + 1)])].map(
        (raw) => ({ name, raw }),
      ),
    );

    it.each(refused)('refuses $name=$raw, by name', ({ name, raw }) => {
      // Act
      const error = thrownBySync(() => loadConfig(withDatabase({ [name]: raw })));

      // Assess
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toContain(name);
    });
  });

  describe('authentication', () => {
    it('verifies against a JWKS URL when AUTH_JWKS_URL is set', () => {
      // Act
      const config = loadConfig(
        withDatabase({
          AUTH_JWKS_URL: 'https://idp.example.org/.well-known/jwks.json',
          AUTH_ISSUER: 'https://idp.example.org',
          AUTH_AUDIENCE: 'etl',
        }),
      );

      // Assess
      expect(config.auth).toEqual({
        issuer: 'https://idp.example.org',
        audience: 'etl',
        keys: { kind: 'jwks', jwksUrl: 'https://idp.example.org/.well-known/jwks.json' },
      });
    });

    it('takes a base64 secret of at least 32 bytes', () => {
      // Prepare
      const secret = Buffer.alloc(48, 7);

      // Act
      const config = loadConfig(withDatabase({ AUTH_JWT_SECRET: secret.toString('base64') }));

      // Assess
      expect(config.auth.keys).toEqual({ kind: 'secret', secret, secretFile: '.data/jwt-secret' });
    });

    it.each([
      ['AUTH_JWT_SECRET', Buffer.alloc(16, 1).toString('base64')],
      ['AUTH_JWT_SECRET', 'not base64!'],
      ['AUTH_JWKS_URL', 'not a url'],
      ['STEP_FUNCTIONS_ENDPOINT', 'localhost:4566'],
    ])('refuses a malformed %s, by name, without echoing a secret', (name, raw) => {
      // Act
      const error = thrownBySync(() => loadConfig(withDatabase({ [name]: raw })));

      // Assess
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toContain(name);
      if (name === 'AUTH_JWT_SECRET') expect((error as ConfigError).message).not.toContain(raw);
    });
  });

  describe('DB_SSL', () => {
    it.each([
      ['true', true],
      ['TRUE', true],
      ['1', true],
      ['false', false],
      ['False', false],
      ['0', false],
    ])('reads %j as %s', (raw, expected) => {
      // Act
      const config = loadConfig(withDatabase({ DB_SSL: raw }));

      // Assess
      expect(config.database.ssl).toBe(expected);
    });

    it.each(['yes', 'no', 'on'])('refuses %j, by name', (raw) => {
      // Act
      const error = thrownBySync(() => loadConfig(withDatabase({ DB_SSL: raw })));

      // Assess
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toContain('DB_SSL');
    });
  });

  describe('LOG_LEVEL', () => {
    it.each([
      ['debug', 'DEBUG'],
      ['Info', 'INFO'],
      ['WARN', 'WARN'],
      ['error', 'ERROR'],
      [' silent ', 'SILENT'],
    ] as const)('reads %j as %s', (raw, expected) => {
      // Act
      const config = loadConfig(withDatabase({ LOG_LEVEL: raw }));

      // Assess
      expect(config.logLevel).toBe(expected);
    });

    it.each(['verbose', 'TRACE', 'warning'])('refuses %j, by name', (raw) => {
      // Act
      const error = thrownBySync(() => loadConfig(withDatabase({ LOG_LEVEL: raw })));

      // Assess
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toContain('LOG_LEVEL');
    });
  });

  describe('KMS keys', () => {
    const keyId = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const auditMacKeyId =
      'arn:aws:kms:eu-west-1:111122223333:key/5678abcd-12ab-34cd-56ef-1234567890ab';

    it.each([
      [
        'an endpoint and AWS_REGION',
        { KMS_ENDPOINT: 'http://localhost:4566', AWS_REGION: 'eu-west-1' },
        { endpoint: 'http://localhost:4566', region: 'eu-west-1' },
      ],
      [
        'AWS_DEFAULT_REGION when AWS_REGION is unset',
        { AWS_DEFAULT_REGION: 'us-east-2' },
        { endpoint: undefined, region: 'us-east-2' },
      ],
      [
        'AWS_REGION over AWS_DEFAULT_REGION',
        { AWS_REGION: 'eu-central-1', AWS_DEFAULT_REGION: 'us-east-2' },
        { endpoint: undefined, region: 'eu-central-1' },
      ],
      ['neither endpoint nor region', {}, { endpoint: undefined, region: undefined }],
    ])('selects the kms provider with %s', (_, env: Environment, expected) => {
      // Act
      const config = loadConfig(
        withDatabase({ KMS_KEY_ID: keyId, AUDIT_MAC_KEY_ID: auditMacKeyId, ...env }),
      );

      // Assess
      expect(config.keys).toStrictEqual({ provider: 'kms', keyId, auditMacKeyId, ...expected });
    });

    it('refuses KMS_KEY_ID without AUDIT_MAC_KEY_ID, by name', () => {
      // Act
      const error = thrownBySync(() => loadConfig(withDatabase({ KMS_KEY_ID: keyId })));

      // Assess
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toContain('AUDIT_MAC_KEY_ID');
    });

    it('prefers KMS_KEY_ID over a local master key', () => {
      // Prepare
      const env = withDatabase({
        KMS_KEY_ID: keyId,
        AUDIT_MAC_KEY_ID: auditMacKeyId,
        LOCAL_MASTER_KEY: randomBytes(32).toString('base64'),
      });

      // Act
      const config = loadConfig(env);

      // Assess
      expect(config.keys.provider).toBe('kms');
    });

    it.each(['not a url', '//localhost:4566'])('refuses KMS_ENDPOINT %j, by name', (endpoint) => {
      // Act
      const error = thrownBySync(() =>
        loadConfig(
          withDatabase({
            KMS_KEY_ID: keyId,
            AUDIT_MAC_KEY_ID: auditMacKeyId,
            KMS_ENDPOINT: endpoint,
          }),
        ),
      );

      // Assess
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toContain('KMS_ENDPOINT');
    });
  });

  describe('queues', () => {
    it('reads the queue URLs, the SQS endpoint, the region and the ingest-queue actor', () => {
      // Prepare
      const env = withDatabase({
        SQS_ENDPOINT: 'http://localhost:4566',
        AWS_REGION: 'eu-west-1',
        PIPELINE_EVENTS_QUEUE_URL:
          'https://sqs.eu-west-1.amazonaws.com/111122223333/pipeline-events',
        INGEST_QUEUE_DLQ_URL: 'https://sqs.eu-west-1.amazonaws.com/111122223333/ingest-queue-dlq',
        INGEST_QUEUE_ACTOR: 'system:partner-feed',
      });

      // Act
      const config = loadConfig(env);

      // Assess
      expect(config.queues).toStrictEqual({
        endpoint: 'http://localhost:4566',
        region: 'eu-west-1',
        pipelineEventsUrl: 'https://sqs.eu-west-1.amazonaws.com/111122223333/pipeline-events',
        ingestDeadLetterUrl: 'https://sqs.eu-west-1.amazonaws.com/111122223333/ingest-queue-dlq',
        ingestActor: 'system:partner-feed',
      });
    });

    it.each([
      ['SQS_ENDPOINT', 'localhost:4566'],
      ['PIPELINE_EVENTS_QUEUE_URL', 'pipeline-events'],
      ['INGEST_QUEUE_DLQ_URL', 'arn:aws:sqs:eu-west-1:111122223333:ingest-queue-dlq'],
      ['INGEST_QUEUE_ACTOR', 'system: ingest queue'],
      ['INGEST_QUEUE_ACTOR', 'x'.repeat(256)],
    ])('refuses a malformed %s, by name', (name, raw) => {
      // Act
      const error = thrownBySync(() => loadConfig(withDatabase({ [name]: raw })));

      // Assess
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toContain(name);
    });
  });

  describe('local keys', () => {
    it('decodes LOCAL_MASTER_KEY into its 32 bytes', () => {
      // Prepare
      const key = randomBytes(32);

      // Act
      const config = loadConfig(withDatabase({ LOCAL_MASTER_KEY: key.toString('base64') }));

      // Assess
      expect(config.keys).toStrictEqual({
        provider: 'local',
        masterKey: key,
        masterKeyFile: '.data/master.key',
      });
    });

    it('reads LOCAL_MASTER_KEY_FILE', () => {
      // Act
      const config = loadConfig(withDatabase({ LOCAL_MASTER_KEY_FILE: '/run/secrets/master.key' }));

      // Assess
      expect(config.keys).toStrictEqual({
        provider: 'local',
        masterKey: undefined,
        masterKeyFile: '/run/secrets/master.key',
      });
    });

    it.each([
      ['31 bytes', randomBytes(31).toString('base64')],
      ['33 bytes', randomBytes(33).toString('base64')],
      ['16 bytes', randomBytes(16).toString('base64')],
      ['32 bytes as hex', randomBytes(32).toString('hex')],
      ['32 bytes as base64url', Buffer.alloc(32, 0xfb).toString('base64url')],
      ['text that is not base64', 'correct horse battery staple, not a key!!'],
    ])('refuses a LOCAL_MASTER_KEY of %s without repeating it', (_, value) => {
      // Act
      const error = thrownBySync(() => loadConfig(withDatabase({ LOCAL_MASTER_KEY: value })));

      // Assess
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as ConfigError).message;
      expect(message).toContain('LOCAL_MASTER_KEY');
      expect(message).not.toContain(value);
    });
  });
});
