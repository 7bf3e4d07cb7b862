import { describe, expect, it } from 'vitest';
import { ENDED_RUN_PAYLOAD_SECONDS } from '../../../lib/db/retention.ts';
import {
  ACCOUNT_ROOT_PRINCIPAL,
  asList,
  lambdaFunction,
  lambdaFunctions,
  packagedTemplate,
  propertiesOf,
  referencedId,
  resource,
  resourcesOfType,
  SERVICE,
  STAGE,
} from './packagedStack.ts';

const DATA_KEY_ARN = { 'Fn::GetAtt': ['DataKey', 'Arn'] };
const PSEUDO_PARAMETERS = new Set([
  'AWS::AccountId',
  'AWS::NoValue',
  'AWS::Partition',
  'AWS::Region',
  'AWS::StackId',
  'AWS::StackName',
  'AWS::URLSuffix',
]);

/** The logical ids a resource depends on: DependsOn, Ref, Fn::GetAtt and ${Name} in Fn::Sub. */
function dependenciesOf(value: unknown, found = new Set<string>()): Set<string> {
  if (typeof value !== 'object' || value === null) return found;
  if (Array.isArray(value)) {
    for (const item of value) dependenciesOf(item, found);
    return found;
  }
  for (const [key, child] of Object.entries(value)) {
    if (key === 'Ref' && typeof child === 'string') found.add(child);
    else if (key === 'Fn::GetAtt' && Array.isArray(child)) found.add(String(child[0]));
    else if (key === 'Fn::Sub') {
      const [text, variables] = Array.isArray(child) ? child : [child, {}];
      for (const [, name] of String(text).matchAll(/\$\{([^}!]+)\}/g)) {
        const base = String(name).split('.')[0] ?? '';
        if (!(base in (variables as object))) found.add(base);
      }
      dependenciesOf(variables, found);
    } else dependenciesOf(child, found);
  }
  return found;
}

function dependencyGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const [logicalId, { Properties, DependsOn }] of Object.entries(
    packagedTemplate().Resources,
  )) {
    const dependencies = dependenciesOf(Properties);
    for (const name of asList(DependsOn)) dependencies.add(name);
    graph.set(logicalId, dependencies);
  }
  return graph;
}

function cycleIn(graph: Map<string, Set<string>>): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'visiting') return [...path.slice(path.indexOf(node)), node];
    state.set(node, 'visiting');
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      const cycle = visit(next);
      if (cycle !== undefined) return cycle;
    }
    path.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle !== undefined) return cycle;
  }
  return undefined;
}

describe('the packaged template as CloudFormation', () => {
  it('refers only to resources it creates and to pseudo parameters', () => {
    // Prepare
    const graph = dependencyGraph();

    // Act
    const dangling = [...graph].flatMap(([from, targets]) =>
      [...targets]
        .filter((target) => !graph.has(target) && !PSEUDO_PARAMETERS.has(target))
        .map((target) => `${from} -> ${target}`),
    );

    // Assess
    expect(dangling).toEqual([]);
  });

  it('has no dependency cycle', () => {
    // Act
    const cycle = cycleIn(dependencyGraph());

    // Assess
    expect(cycle).toBeUndefined();
  });
});

describe('the KMS key', () => {
  it('is customer managed, symmetric, rotated yearly and kept when the stack is deleted', () => {
    // Act
    const key = resource('DataKey');

    // Assess
    expect(key.Type).toBe('AWS::KMS::Key');
    expect(key.DeletionPolicy).toBe('Retain');
    expect(key.UpdateReplacePolicy).toBe('Retain');
    expect(key.Properties).toMatchObject({
      KeySpec: 'SYMMETRIC_DEFAULT',
      KeyUsage: 'ENCRYPT_DECRYPT',
      EnableKeyRotation: true,
      RotationPeriodInDays: 365,
    });
  });

  it('leaves every use of the key to IAM: its policy grants only the account root, to administer it', () => {
    // Act
    const policy = propertiesOf('DataKey')['KeyPolicy'];

    // Assess
    expect(policy).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'AccountAdministersKeyThroughIam',
          Effect: 'Allow',
          Principal: ACCOUNT_ROOT_PRINCIPAL,
          Action: 'kms:*',
          Resource: '*',
        },
      ],
    });
  });

  it('has an alias per stage', () => {
    // Act
    const alias = propertiesOf('DataKeyAlias');

    // Assess
    expect(resource('DataKeyAlias').Type).toBe('AWS::KMS::Alias');
    expect(alias).toEqual({
      AliasName: `alias/${SERVICE}-${STAGE}`,
      TargetKeyId: { Ref: 'DataKey' },
    });
  });

  it('is the key the functions use (KMS_KEY_ID)', () => {
    // Assess
    for (const fn of lambdaFunctions()) {
      const environment = (fn.properties['Environment'] as { Variables: Record<string, unknown> })
        .Variables;
      expect(environment['KMS_KEY_ID']).toEqual(DATA_KEY_ARN);
    }
  });
});

describe('the payload bucket', () => {
  it('encrypts payloads under the pipeline’s key with a bucket key, keeps no versions, and goes with the stack', () => {
    // Act
    const bucket = resource('PayloadBucket');

    // Assess
    expect(bucket.Type).toBe('AWS::S3::Bucket');
    expect(bucket.DeletionPolicy).toBe('Delete');
    expect(bucket.UpdateReplacePolicy).toBe('Delete');
    expect(bucket.Properties?.['BucketEncryption']).toEqual({
      ServerSideEncryptionConfiguration: [
        {
          ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: DATA_KEY_ARN },
          BucketKeyEnabled: true,
        },
      ],
    });
    expect(bucket.Properties?.['VersioningConfiguration']).toBeUndefined();
    expect(bucket.Properties?.['ObjectLockEnabled']).toBeUndefined();
  });

  it('blocks public access and ACLs, and refuses every request without TLS', () => {
    // Act
    const properties = propertiesOf('PayloadBucket');
    const policy = propertiesOf('PayloadBucketPolicy');

    // Assess
    expect(properties['PublicAccessBlockConfiguration']).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(properties['OwnershipControls']).toEqual({
      Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }],
    });
    expect(policy['Bucket']).toEqual({ Ref: 'PayloadBucket' });
    expect(policy['PolicyDocument']).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'DenyInsecureTransport',
          Effect: 'Deny',
          Principal: '*',
          Action: 's3:*',
          Resource: [
            { 'Fn::GetAtt': ['PayloadBucket', 'Arn'] },
            // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder
            { 'Fn::Sub': '${PayloadBucket.Arn}/*' },
          ],
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
      ],
    });
  });

  it('expires what no purge took once a failed run’s re-drive window (its logs’ retention) is over, and incomplete uploads after a day', () => {
    // Prepare
    const logRetention = propertiesOf('IngestStateMachineLogGroup')['RetentionInDays'];

    // Act
    const rules = (propertiesOf('PayloadBucket')['LifecycleConfiguration'] as { Rules: unknown[] })
      .Rules;

    // Assess
    expect(rules).toEqual([
      {
        Id: 'ExpirePayloads',
        Status: 'Enabled',
        ExpirationInDays: logRetention,
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
      },
    ]);
    // Longer than any execution that could still read them, and the hourly purge's wait.
    expect(Number(logRetention) * 86_400).toBeGreaterThan(ENDED_RUN_PAYLOAD_SECONDS);
  });

  it('is the bucket every function keeps payloads in (PAYLOAD_BUCKET)', () => {
    // Assess
    for (const fn of lambdaFunctions()) {
      const environment = (fn.properties['Environment'] as { Variables: Record<string, unknown> })
        .Variables;
      expect(environment['PAYLOAD_BUCKET'], fn.name).toEqual({ Ref: 'PayloadBucket' });
    }
  });
});

describe('the queues', () => {
  it('encrypts ingest-queue with the customer-managed key and sends what keeps failing to its dead-letter queue', () => {
    // Act
    const queue = propertiesOf('IngestQueue');
    const redrive = queue['RedrivePolicy'] as {
      deadLetterTargetArn: unknown;
      maxReceiveCount: number;
    };

    // Assess
    expect(queue['QueueName']).toBe(`${SERVICE}-${STAGE}-ingest-queue`);
    expect(queue['KmsMasterKeyId']).toEqual(DATA_KEY_ARN);
    expect(referencedId(redrive.deadLetterTargetArn)).toBe('IngestDeadLetterQueue');
    expect(redrive.maxReceiveCount).toBeGreaterThanOrEqual(3);
    expect(redrive.maxReceiveCount).toBeLessThanOrEqual(10);
  });

  it("gives ingest-queue a visibility timeout of at least six times its consumer's timeout", () => {
    // Prepare
    const consumerTimeout = Number(lambdaFunction('ingestQueue').properties['Timeout']);

    // Act
    const visibility = Number(propertiesOf('IngestQueue')['VisibilityTimeout']);

    // Assess
    expect(visibility).toBeGreaterThanOrEqual(6 * consumerTimeout);
  });

  it('encrypts the dead-letter queue with the same key and keeps messages longer than ingest-queue', () => {
    // Act
    const deadLetters = propertiesOf('IngestDeadLetterQueue');

    // Assess
    expect(deadLetters['KmsMasterKeyId']).toEqual(DATA_KEY_ARN);
    expect(Number(deadLetters['MessageRetentionPeriod'])).toBeGreaterThan(
      Number(propertiesOf('IngestQueue')['MessageRetentionPeriod']),
    );
  });

  it('encrypts pipeline-events with SQS-managed keys (events carry no PHI)', () => {
    // Act
    const events = propertiesOf('PipelineEventsQueue');

    // Assess
    expect(events['QueueName']).toBe(`${SERVICE}-${STAGE}-pipeline-events`);
    expect(events['SqsManagedSseEnabled']).toBe(true);
  });

  it.each(resourcesOfType('AWS::SQS::Queue').map(([logicalId]) => logicalId))(
    'encrypts %s at rest',
    (logicalId) => {
      // Act
      const queue = propertiesOf(logicalId);

      // Assess
      expect(queue['KmsMasterKeyId'] ?? queue['SqsManagedSseEnabled']).toBeTruthy();
    },
  );

  it('delivers ingest-queue to its consumer ten messages at a time, reporting partial failures', () => {
    // Act
    const mappings = resourcesOfType('AWS::Lambda::EventSourceMapping').map(
      ([, mapping]) => mapping.Properties ?? {},
    );

    // Assess
    expect(mappings).toHaveLength(1);
    expect(mappings[0]).toMatchObject({
      EventSourceArn: { 'Fn::GetAtt': ['IngestQueue', 'Arn'] },
      FunctionName: { 'Fn::GetAtt': ['IngestQueueLambdaFunction', 'Arn'] },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 5 },
    });
  });
});

describe('the log groups', () => {
  it.each(resourcesOfType('AWS::Logs::LogGroup').map(([logicalId]) => logicalId))(
    'keeps %s for a limited time',
    (logicalId) => {
      // Act
      const retention = propertiesOf(logicalId)['RetentionInDays'];

      // Assess
      expect(retention).toBe(30);
    },
  );

  it.each(lambdaFunctions().map((fn) => [fn.name, fn] as const))(
    'gives %s a log group of its own',
    (_name, fn) => {
      // Act
      const logGroup = propertiesOf(`${fn.logicalId.replace(/LambdaFunction$/, '')}LogGroup`);

      // Assess
      expect(logGroup['LogGroupName']).toBe(`/aws/lambda/${String(fn.properties['FunctionName'])}`);
    },
  );

  it("logs the HTTP API's requests by route template, never by path or query string", () => {
    // Act
    const stage = propertiesOf('HttpApiStage');
    const format = String((stage['AccessLogSettings'] as { Format: string }).Format);

    // Assess
    expect(format).toContain('$context.routeKey');
    expect(format).not.toMatch(/\$context\.(path|rawPath|rawQueryString|identity\.sourceIp)/);
  });
});
