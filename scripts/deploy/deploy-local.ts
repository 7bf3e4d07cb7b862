import { spawn } from 'node:child_process';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { loadJwtSecret } from '../../lib/auth/tokens.ts';
import { createAwsClient } from '../../lib/aws/clients.ts';
import { authConfig } from '../../lib/config.ts';
import { migrate } from '../../lib/db/migrate.ts';

/**
 * `npm run deploy:local [-- <osls deploy options>]`: deploys serverless.yml to the LocalStack that
 * `docker compose up -d` started, as stage `localstack`, exactly as `npm run deploy` deploys to
 * AWS. osls's AWS SDK v3 clients are sent to LocalStack by AWS_ENDPOINT_URL, with throwaway
 * credentials, so nothing here can reach a real account. The compose PostgreSQL is migrated
 * first, and the Lambdas accept the HS256 tokens `npm run token` mints (the same secret).
 */

const STAGE = 'localstack';
const SERVICE = 'healthcare-etl';

function setting(name: string, fallback: string): string {
  const value = process.env[name]?.trim();
  return value === undefined || value === '' ? fallback : value;
}

const REGION = setting('AWS_REGION', 'us-east-1');
const ENDPOINT = setting('LOCALSTACK_ENDPOINT', 'http://127.0.0.1:4566');
/** The compose PostgreSQL as the host sees it (the Lambdas reach it as postgres:5432). */
const DATABASE_URL = setting(
  'LOCALSTACK_DATABASE_URL',
  'postgres://etl:etl@127.0.0.1:5433/healthcare_etl',
);
const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

async function waitForLocalStack(): Promise<void> {
  let body: unknown;
  try {
    body = await (await fetch(`${ENDPOINT}/_localstack/init/ready`)).json();
  } catch {
    throw new Error(
      `LocalStack does not answer on ${ENDPOINT}: start it with docker compose up -d`,
    );
  }
  if ((body as { completed?: unknown }).completed !== true) {
    throw new Error(
      'LocalStack is still running its ready hooks: wait until docker compose ps says healthy',
    );
  }
}

function osls(args: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['node_modules/osls/bin/serverless.js', ...args], {
      env,
      stdio: 'inherit',
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`osls ${args[0]} exited with code ${code}`)),
    );
  });
}

async function stackOutputs(): Promise<Map<string, string>> {
  const client = createAwsClient(CloudFormationClient, {
    endpoint: ENDPOINT,
    region: REGION,
    credentials: CREDENTIALS,
  });
  const { Stacks } = await client.send(
    new DescribeStacksCommand({ StackName: `${SERVICE}-${STAGE}` }),
  );
  return new Map(
    (Stacks?.[0]?.Outputs ?? []).map((output) => [
      output.OutputKey ?? '',
      output.OutputValue ?? '',
    ]),
  );
}

async function main(): Promise<void> {
  await waitForLocalStack();
  const applied = await migrate(DATABASE_URL);
  say(applied.length === 0 ? 'Schema is up to date.' : `Migrations applied: ${applied.join(', ')}`);

  const auth = authConfig(process.env);
  if (auth.keys.kind !== 'secret') {
    throw new Error('AUTH_JWKS_URL is set: LocalStack runs with the local HS256 secret; unset it');
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ENDPOINT_URL: ENDPOINT,
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_REGION: REGION,
    // serverless.yml's params.localstack.authJwtSecret: the secret `npm run token` signs with.
    AUTH_JWT_SECRET: loadJwtSecret(auth.keys).toString('base64'),
  };
  // A profile would outrank the throwaway credentials.
  delete env['AWS_PROFILE'];
  await osls(['deploy', '--stage', STAGE, '--region', REGION, ...process.argv.slice(2)], env);

  const outputs = await stackOutputs();
  const apiId = outputs.get('HttpApiId');
  const api = new URL(ENDPOINT);
  say();
  say(`healthcare-etl deployed to LocalStack (stage ${STAGE})`);
  say(
    `  API            http://${apiId}.execute-api.localhost.localstack.cloud:${api.port || '4566'}`,
  );
  say(`  State machine  ${outputs.get('IngestStateMachineArn')}`);
  say(`  ingest-queue   ${outputs.get('IngestQueueUrl')}`);
  say(`  Events         ${outputs.get('PipelineEventsQueueUrl')}`);
  say('  Token          npm run -s token -- --scope "system/Patient.c user/Patient.r"');
  say('  Executions     https://app.localstack.cloud/inst/default/resources/stepfunctions');
}

main().catch((error: unknown) => {
  process.stderr.write(
    `deploy:local failed: ${error instanceof Error ? error.message : 'unknown error'}\n`,
  );
  process.exitCode = 1;
});
