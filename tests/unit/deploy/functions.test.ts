import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import JSZip from 'jszip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEDULED_FUNCTIONS } from '../../../local/scheduledFunctions.ts';
import {
  environmentOf,
  type LambdaFunction,
  lambdaFunction,
  lambdaFunctions,
  PARAMS,
  packageDir,
  resourcesOfType,
  SERVICE,
  STAGE,
} from './packagedStack.ts';

/** The functions that never open a database connection, so run outside the database VPC. */
const OUTSIDE_VPC = ['console', 'docs', 'fhirMetadata', 'health', 'notFound', 'openapi'];
/** The public functions' reserved concurrency: each caps what anyone can make it use. */
const PUBLIC_CONCURRENCY: Readonly<Record<string, number>> = {
  console: 10,
  docs: 10,
  fhirMetadata: 3,
  health: 3,
  notFound: 3,
  openapi: 3,
};
const STARTS_RUNS = ['ingest', 'ingestQueue', 'reconcileRuns', 'redriveRun'];
/** The functions that name the state machine: those that start runs, and the history reader. */
const NAME_THE_STATE_MACHINE = [...STARTS_RUNS, 'getRunHistory'].sort();

const RATE_UNIT_MS: Readonly<Record<string, number>> = {
  minute: 60_000,
  minutes: 60_000,
  hour: 3_600_000,
  hours: 3_600_000,
  day: 86_400_000,
  days: 86_400_000,
};

/** `rate(5 minutes)` in milliseconds. */
function rateMs(expression: string): number {
  const [, value, unit] = /^rate\((\d+) (\w+)\)$/.exec(expression) ?? [];
  const unitMs = RATE_UNIT_MS[unit ?? ''];
  if (unitMs === undefined) throw new Error(`not a rate expression: ${expression}`);
  return Number(value) * unitMs;
}

/** The EventBridge rule whose target is this function. */
function scheduleOf(functionLogicalId: string): Readonly<Record<string, unknown>> {
  const rules = resourcesOfType('AWS::Events::Rule')
    .map(([, rule]) => rule.Properties ?? {})
    .filter((rule) => JSON.stringify(rule['Targets']).includes(`"${functionLogicalId}"`));
  if (rules.length !== 1) throw new Error(`${rules.length} rules target ${functionLogicalId}`);
  return rules[0] ?? {};
}

function handlerFile(fn: LambdaFunction): string {
  return `${String(fn.properties['Handler']).replace(/\.handler$/, '')}.mjs`;
}

describe('the Lambda functions in the packaged template', () => {
  it.each(lambdaFunctions().map((fn) => [fn.name, fn] as const))(
    'runs %s on nodejs24.x, arm64, traced, from its own bundle',
    (name, fn) => {
      // Assess
      expect(fn.properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        Handler: expect.stringMatching(/^functions\/(api|fhir|stages|queue)\/\w+\.handler$/),
      });
      expect(String((fn.properties['Code'] as { S3Key: string }).S3Key)).toMatch(
        new RegExp(`/${name}\\.zip$`),
      );
    },
  );

  it.each(lambdaFunctions().map((fn) => [fn.name, fn] as const))(
    'places %s in the database VPC when it reaches PostgreSQL',
    (name, fn) => {
      // Act
      const vpc = fn.properties['VpcConfig'];

      // Assess
      if (OUTSIDE_VPC.includes(name)) {
        expect(vpc).toBeUndefined();
      } else {
        expect(vpc).toEqual({
          SubnetIds: PARAMS.databaseSubnetIds.split(','),
          SecurityGroupIds: PARAMS.databaseSecurityGroupIds.split(','),
        });
      }
    },
  );

  it.each(lambdaFunctions().map((fn) => [fn.name, fn] as const))(
    'configures %s from the stack and the stage parameters',
    (_name, fn) => {
      // Act
      const environment = environmentOf(fn);

      // Assess
      expect(environment).toMatchObject({
        DATABASE_URL: `{{resolve:secretsmanager:${SERVICE}/${STAGE}/database-url}}`,
        DB_SSL: 'true',
        KMS_KEY_ID: { 'Fn::GetAtt': ['DataKey', 'Arn'] },
        AUDIT_MAC_KEY_ID: { 'Fn::GetAtt': ['AuditMacKey', 'Arn'] },
        AUDIT_CHECKPOINT_BUCKET: { Ref: 'AuditCheckpointBucket' },
        PAYLOAD_BUCKET: { Ref: 'PayloadBucket' },
        KMS_ENDPOINT: '',
        S3_ENDPOINT: '',
        STEP_FUNCTIONS_ENDPOINT: '',
        AUTH_ISSUER: PARAMS.authIssuer,
        AUTH_AUDIENCE: PARAMS.authAudience,
        AUTH_JWKS_URL: PARAMS.authJwksUrl,
        AUTH_JWT_SECRET: '',
      });
      expect(JSON.stringify(environment)).not.toMatch(/postgres(ql)?:\/\//);
    },
  );

  it.each(lambdaFunctions().map((fn) => [fn.name, fn] as const))(
    'caps %s’s concurrency when it is public (no authorizer bounds who invokes it), else not',
    (name, fn) => {
      // Act
      const reserved = fn.properties['ReservedConcurrentExecutions'];

      // Assess
      expect(reserved).toBe(PUBLIC_CONCURRENCY[name]);
    },
  );

  // From `npm run bench` and `npm run bench:cold-start` (README, Performance).
  it.each([
    ['extract', 512],
    ['validate', 512],
    ['consentCheck', 512],
    ['transform', 1024],
    ['load', 512],
    ['markFailed', 256],
    ['publish', 256],
  ] as const)('gives the %s stage %i MB, as measured', (name, memory) => {
    // Assess
    expect(lambdaFunction(name).properties['MemorySize']).toBe(memory);
  });

  it('names the state machine to the functions that start runs or read their history, and to no stage it runs', () => {
    // Act
    const named = lambdaFunctions().filter(
      (fn) => environmentOf(fn)['STATE_MACHINE_ARN'] !== undefined,
    );

    // Assess
    expect(named.map((fn) => fn.name).sort()).toEqual(NAME_THE_STATE_MACHINE);
    for (const fn of named) {
      expect(environmentOf(fn)['STATE_MACHINE_ARN']).toEqual({ Ref: 'IngestStateMachine' });
    }
  });

  it('points Publish and the reconciler at pipeline-events and the queue consumer at its dead-letter queue', () => {
    // Act
    const publish = environmentOf(lambdaFunction('publish'));
    const reconciler = environmentOf(lambdaFunction('reconcileRuns'));
    const consumer = environmentOf(lambdaFunction('ingestQueue'));

    // Assess
    expect(publish['PIPELINE_EVENTS_QUEUE_URL']).toEqual({ Ref: 'PipelineEventsQueue' });
    expect(reconciler['PIPELINE_EVENTS_QUEUE_URL']).toEqual({ Ref: 'PipelineEventsQueue' });
    expect(consumer['INGEST_QUEUE_DLQ_URL']).toEqual({ Ref: 'IngestDeadLetterQueue' });
    expect(
      lambdaFunctions()
        .filter((fn) => environmentOf(fn)['PIPELINE_EVENTS_QUEUE_URL'] !== undefined)
        .map((fn) => fn.name)
        .sort(),
    ).toEqual(['publish', 'reconcileRuns']);
  });

  it('schedules the reconciler, the purges and the audit checkpoint, and nothing else', () => {
    // Act
    const rules = resourcesOfType('AWS::Events::Rule').map(([, rule]) => rule.Properties ?? {});

    // Assess
    expect(rules).toHaveLength(3);
    expect(rules.map((rule) => JSON.stringify(rule['Targets'])).sort()).toEqual([
      expect.stringContaining('CheckpointAuditLambdaFunction'),
      expect.stringContaining('PurgeExpiredLambdaFunction'),
      expect.stringContaining('ReconcileRunsLambdaFunction'),
    ]);
  });

  it('checkpoints the audit chain every five minutes in the database VPC, to the Object Lock bucket', () => {
    // Act
    const rule = scheduleOf('CheckpointAuditLambdaFunction');
    const fn = lambdaFunction('checkpointAudit');

    // Assess
    expect(rule).toMatchObject({ ScheduleExpression: 'rate(5 minutes)', State: 'ENABLED' });
    expect(fn.properties).toMatchObject({ Handler: 'functions/queue/checkpointAudit.handler' });
    expect(fn.properties['VpcConfig']).toBeDefined();
    expect(environmentOf(fn)).toMatchObject({
      AUDIT_MAC_KEY_ID: { 'Fn::GetAtt': ['AuditMacKey', 'Arn'] },
      AUDIT_CHECKPOINT_BUCKET: { Ref: 'AuditCheckpointBucket' },
    });
  });

  it('has npm start run each scheduled function at the rate of its rule', () => {
    // Act
    const rules = lambdaFunctions().flatMap((fn) => {
      const targeting = resourcesOfType('AWS::Events::Rule')
        .map(([, rule]) => rule.Properties ?? {})
        .filter((rule) => JSON.stringify(rule['Targets']).includes(`"${fn.logicalId}"`));
      return targeting.map((rule) => ({
        name: fn.name,
        everyMs: rateMs(String(rule['ScheduleExpression'])),
      }));
    });

    // Assess
    expect(SCHEDULED_FUNCTIONS.map(({ name, everyMs }) => ({ name, everyMs }))).toEqual(
      expect.arrayContaining(rules),
    );
    expect(SCHEDULED_FUNCTIONS).toHaveLength(rules.length);
  });

  it('runs the reconciler every five minutes, with its bounds from the stack', () => {
    // Act
    const rule = scheduleOf('ReconcileRunsLambdaFunction');
    const environment = environmentOf(lambdaFunction('reconcileRuns'));

    // Assess
    expect(rule).toMatchObject({ ScheduleExpression: 'rate(5 minutes)', State: 'ENABLED' });
    expect(JSON.stringify(rule['Targets'])).toContain('ReconcileRunsLambdaFunction');
    expect(environment).toMatchObject({ RECONCILE_IDLE_SECONDS: '300', RECONCILE_MAX_RUNS: '100' });
  });

  it('runs the purges every hour in the database VPC, with their batch size from the stack', () => {
    // Act
    const rule = scheduleOf('PurgeExpiredLambdaFunction');
    const fn = lambdaFunction('purgeExpired');

    // Assess
    expect(rule).toMatchObject({ ScheduleExpression: 'rate(1 hour)', State: 'ENABLED' });
    expect(fn.properties).toMatchObject({
      Handler: 'functions/queue/purgeExpired.handler',
      Timeout: 120,
    });
    expect(fn.properties['VpcConfig']).toBeDefined();
    expect(environmentOf(fn)).toMatchObject({ PURGE_BATCH_SIZE: '10000' });
  });
});

/** Imports every bundle in a plain Node process, as Lambda does, and calls the public handlers. */
const LOAD_BUNDLES = `
const [root, ...entries] = process.argv.slice(1);
const results = {};
for (const entry of entries) {
  const [name, file] = entry.split('=');
  const { handler } = await import(\`\${root}/\${name}/\${file}\`);
  results[name] = { handler: typeof handler };
}
const call = async (name, file, path, asset) => {
  const { handler } = await import(\`\${root}/\${name}/\${file}\`);
  const response = await handler(
    { version: '2.0', routeKey: 'GET ' + path, rawPath: path, rawQueryString: '', headers: {},
      requestContext: { http: { method: 'GET', path, sourceIp: '192.0.2.1' }, requestId: 'bundle-check' },
      ...(asset === undefined ? {} : { pathParameters: { asset } }), isBase64Encoded: false },
    { awsRequestId: 'bundle-check', getRemainingTimeInMillis: () => 10000 });
  return { statusCode: response.statusCode, contentType: response.headers?.['content-type'], bytes: String(response.body).length };
};
results.calls = {
  health: await call('health', 'functions/api/health.mjs', '/health'),
  openapi: await call('openapi', 'functions/api/openapi.mjs', '/openapi.json'),
  docsAsset: await call('docs', 'functions/api/docs.mjs', '/docs/assets/swagger-ui-bundle.js', 'swagger-ui-bundle.js'),
  notFound: await call('notFound', 'functions/api/notFound.mjs', '/no-such-route'),
  consoleAsset: await call('console', 'functions/api/console.mjs', '/console/assets/console.js', 'console.js'),
  fhirMetadata: await call('fhirMetadata', 'functions/fhir/metadata.mjs', '/fhir/r4/metadata'),
};
process.stdout.write('\\n' + JSON.stringify(results));
`;

describe('the function bundles', () => {
  let root: string;
  let loaded: {
    readonly calls: Readonly<
      Record<string, { statusCode: number; contentType: string; bytes: number }>
    >;
  } & Readonly<Record<string, { handler: string }>>;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'etl-bundles-'));
    for (const fn of lambdaFunctions()) {
      const zip = await JSZip.loadAsync(readFileSync(join(packageDir(), `${fn.name}.zip`)));
      for (const entry of Object.values(zip.files).filter((file) => !file.dir)) {
        const target = join(root, fn.name, entry.name);
        mkdirSync(dirname(target), { recursive: true });
        writeFileSync(target, await entry.async('nodebuffer'));
      }
    }
    const entries = lambdaFunctions().map((fn) => `${fn.name}=${handlerFile(fn)}`);
    // No configuration at all: importing a handler must not need any.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', LOAD_BUNDLES, root, ...entries],
      { env: { PATH: process.env['PATH'] ?? '' }, maxBuffer: 16 * 1024 * 1024 },
    );
    // The last line: a handler that answers an error logs it on stdout before.
    loaded = JSON.parse(stdout.trimEnd().split('\n').at(-1) ?? '') as typeof loaded;
  });

  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it.each(lambdaFunctions().map((fn) => fn.name))(
    'loads the %s bundle in Node alone and finds its handler',
    (name) => {
      // Assess
      expect(loaded[name]).toEqual({ handler: 'function' });
    },
  );

  it('serves /health and /openapi.json from the bundles (JSON schemas bundled in)', () => {
    // Assess
    expect(loaded.calls['health']).toMatchObject({
      statusCode: 200,
      contentType: 'application/json',
    });
    expect(loaded.calls['openapi']).toMatchObject({
      statusCode: 200,
      contentType: 'application/json',
    });
  });

  it('serves the FHIR CapabilityStatement from the fhirMetadata bundle (descriptors bundled in)', () => {
    // Assess
    expect(loaded.calls['fhirMetadata']).toMatchObject({
      statusCode: 200,
      contentType: 'application/fhir+json',
    });
    expect(loaded.calls['fhirMetadata']?.bytes).toBeGreaterThan(10_000);
  });

  it('answers what no route matches with a problem+json 404 from the notFound bundle', () => {
    // Assess
    expect(loaded.calls['notFound']).toMatchObject({
      statusCode: 404,
      contentType: 'application/problem+json',
    });
  });

  it("serves Swagger UI's assets from the files the docs bundle ships", () => {
    // Assess
    expect(loaded.calls['docsAsset']).toMatchObject({
      statusCode: 200,
      contentType: 'text/javascript; charset=utf-8',
    });
    expect(loaded.calls['docsAsset']?.bytes).toBeGreaterThan(100_000);
  });

  it("serves the console's bundle from the files the console package ships", () => {
    // Assess
    expect(loaded.calls['consoleAsset']).toMatchObject({
      statusCode: 200,
      contentType: 'text/javascript; charset=utf-8',
    });
    expect(loaded.calls['consoleAsset']?.bytes).toBeGreaterThan(50_000);
  });
});
