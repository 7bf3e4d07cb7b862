import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { authConfig } from '../../../lib/config.ts';
import { LOCALSTACK_JWT_SECRET, localStackConfiguration } from './packagedStack.ts';

/**
 * What can be checked here without Docker: docker-compose.yml, the LocalStack init hooks, and
 * the configuration `npm run deploy:local` deploys (`osls print --stage localstack`).
 */
const ROOT = new URL('../../../', import.meta.url).pathname;
const HOOKS_DIR = join(ROOT, 'localstack/init/ready.d');
const REQUIRED_SERVICES = [
  'lambda',
  'stepfunctions',
  'kms',
  'sqs',
  'apigateway',
  'iam',
  'cloudformation',
  's3',
  'logs',
  'ssm',
  // DATABASE_URL's secret; STS for the deployment; the HTTP API is API Gateway v2.
  'secretsmanager',
  'sts',
  'apigatewayv2',
  // The run reconciler's schedule is an EventBridge rule.
  'events',
];

interface ComposeService {
  readonly image: string;
  readonly environment?: Readonly<Record<string, string>>;
  readonly volumes?: readonly string[];
  readonly ports?: readonly string[];
  readonly healthcheck?: { readonly test: readonly string[] };
  readonly depends_on?: Readonly<Record<string, { condition: string }>>;
}

interface Compose {
  readonly services: Readonly<Record<string, ComposeService>>;
  readonly volumes?: Readonly<Record<string, unknown>>;
  readonly networks?: Readonly<Record<string, { name?: string }>>;
}

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as Compose;

function service(name: string): ComposeService {
  const found = compose.services[name];
  if (found === undefined) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
}

const hooks = readdirSync(HOOKS_DIR).filter((file) => file.endsWith('.sh'));

interface StageFunction {
  readonly vpc?: unknown;
  readonly environment?: Readonly<Record<string, unknown>>;
  readonly events?: ReadonlyArray<{ readonly httpApi?: { readonly authorizer?: unknown } }>;
}

const stage = localStackConfiguration() as {
  readonly provider: {
    readonly environment: Readonly<Record<string, unknown>>;
    readonly httpApi: { readonly authorizers: Readonly<Record<string, unknown>> };
  };
  readonly functions: Readonly<Record<string, StageFunction>>;
};

describe('docker-compose.yml', () => {
  it('runs LocalStack, pinned to a release, with the services the stack uses', () => {
    // Act
    const localstack = service('localstack');
    const services = String(localstack.environment?.['SERVICES']).split(',');

    // Assess
    expect(localstack.image).toMatch(/^localstack\/localstack:\d{4}\.\d{2}\.\d+$/);
    expect(services).toEqual(expect.arrayContaining(REQUIRED_SERVICES));
    expect(localstack.environment?.['LOCALSTACK_AUTH_TOKEN']).toMatch(
      /^\$\{LOCALSTACK_AUTH_TOKEN:\?/,
    );
  });

  it('gives LocalStack the Docker socket for Lambda, the init hooks, and a health check', () => {
    // Act
    const localstack = service('localstack');

    // Assess
    expect(localstack.volumes).toEqual(
      expect.arrayContaining([
        '/var/run/docker.sock:/var/run/docker.sock',
        './localstack/init/ready.d:/etc/localstack/init/ready.d:ro',
      ]),
    );
    expect(localstack.healthcheck?.test.join(' ')).toContain(
      'http://localhost:4566/_localstack/health',
    );
    expect(localstack.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
  });

  it("runs the Lambdas on the compose network, where the stack's endpoints and database are", () => {
    // Act
    const environment = service('localstack').environment ?? {};
    const databaseUrl = new URL(String(environment['ETL_DATABASE_URL']));

    // Assess
    expect(environment['LAMBDA_DOCKER_NETWORK']).toBe(compose.networks?.['default']?.name);
    expect(databaseUrl.hostname).toBe('postgres');
    expect(databaseUrl.port).toBe('5432');
    expect(new URL(String(stage.provider.environment['KMS_ENDPOINT'])).hostname).toBe('localstack');
  });

  it('runs PostgreSQL 16 with a health check and its data in a named volume', () => {
    // Act
    const postgres = service('postgres');
    const [volume] = (postgres.volumes ?? [])[0]?.split(':') ?? [];
    const databaseUrl = new URL(String(service('localstack').environment?.['ETL_DATABASE_URL']));

    // Assess
    expect(postgres.image).toMatch(/^postgres:16/);
    expect(postgres.healthcheck?.test.join(' ')).toContain('pg_isready');
    expect(Object.keys(compose.volumes ?? {})).toContain(volume);
    expect(postgres.environment).toMatchObject({
      POSTGRES_USER: databaseUrl.username,
      POSTGRES_PASSWORD: databaseUrl.password,
      POSTGRES_DB: databaseUrl.pathname.slice(1),
    });
  });
});

describe('the LocalStack init hooks', () => {
  it('has at least one ready hook', () => {
    // Assess
    expect(hooks.length).toBeGreaterThan(0);
  });

  // In a fresh clone the file mode is the one git tracks.
  it.each(hooks)('%s is executable and valid bash', (hook) => {
    // Prepare
    const path = join(HOOKS_DIR, hook);

    // Act
    const mode = statSync(path).mode;
    const check = () => execFileSync('bash', ['-n', path], { stdio: 'pipe' });

    // Assess
    expect(mode & 0o111).toBe(0o111);
    expect(check).not.toThrow();
    expect(readFileSync(path, 'utf8')).toMatch(/^#!\/usr\/bin\/env bash\n[\s\S]*set -euo pipefail/);
  });

  it('creates the secret the LocalStack stage takes DATABASE_URL from', () => {
    // Prepare
    const reference = String(stage.provider.environment['DATABASE_URL']);
    const secretName = /^\{\{resolve:secretsmanager:(.+)\}\}$/.exec(reference)?.[1];
    const script = hooks.map((hook) => readFileSync(join(HOOKS_DIR, hook), 'utf8')).join('\n');
    const stageName = service('localstack').environment?.['ETL_STAGE'];

    // Act
    const created = /secret_name="healthcare-etl\/\$\{stage\}\/database-url"/.test(script);

    // Assess
    expect(secretName).toBe(`healthcare-etl/${stageName}/database-url`);
    expect(created).toBe(true);
    expect(script).toContain('awslocal secretsmanager create-secret');
  });
});

describe('the LocalStack stage (npm run deploy:local)', () => {
  it('runs no function in a VPC', () => {
    // Assess
    for (const fn of Object.values(stage.functions)) expect(fn.vpc ?? false).toBe(false);
  });

  it('puts no JWT authorizer on the gateway: the handlers verify the local HS256 tokens', () => {
    // Act
    const authorizers = Object.values(stage.functions).flatMap((fn) =>
      (fn.events ?? []).map((event) => event.httpApi?.authorizer ?? ''),
    );

    // Assess
    expect(stage.provider.httpApi.authorizers).toEqual({});
    expect(new Set(authorizers)).toEqual(new Set(['']));
  });

  it('accepts the tokens npm run token mints', () => {
    // Prepare
    const tokenDefaults = authConfig({});

    // Act
    const environment = stage.provider.environment;

    // Assess
    expect(environment).toMatchObject({
      AUTH_ISSUER: tokenDefaults.issuer,
      AUTH_AUDIENCE: tokenDefaults.audience,
      AUTH_JWKS_URL: '',
      AUTH_JWT_SECRET: LOCALSTACK_JWT_SECRET,
      DB_SSL: 'false',
    });
  });

  it('sends KMS, Step Functions, SQS and S3 calls from the Lambdas to LocalStack', () => {
    // Act
    const endpoints = [
      stage.provider.environment['KMS_ENDPOINT'],
      stage.provider.environment['S3_ENDPOINT'],
      stage.provider.environment['STEP_FUNCTIONS_ENDPOINT'],
      stage.functions['publish']?.environment?.['SQS_ENDPOINT'],
      stage.functions['ingestQueue']?.environment?.['SQS_ENDPOINT'],
    ];

    // Assess
    expect(new Set(endpoints)).toEqual(new Set(['http://localstack:4566']));
  });
});
