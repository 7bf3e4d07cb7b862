import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { payloadLocation } from '../../../lib/pipeline/payloadStore.ts';
import {
  ACCOUNT_ROOT_PRINCIPAL,
  asList,
  type LambdaFunction,
  lambdaFunction,
  lambdaFunctions,
  type PolicyStatement,
  packagedTemplate,
  propertiesOf,
  referencedId,
  resourcesOfType,
  roleOf,
  SQS_VIA_SERVICE,
  statementsOfRole,
} from './packagedStack.ts';

// biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder
const S3_VIA_SERVICE = { 'Fn::Sub': 's3.${AWS::Region}.amazonaws.com' };

/**
 * Least privilege, read from the packaged template. A grant is written
 * `action resource [condition]`: the resource is a logical id, `own-log-group` or `*`; the
 * condition `purpose=<p>` (the data key's encryption context, lib/crypto/keyring.ts) or
 * `via-sqs=<queue>` (the key as SQS uses it for that queue's SSE-KMS).
 */
const OWN_LOGS = ['logs:CreateLogStream own-log-group', 'logs:PutLogEvents own-log-group'];
const TRACES = ['xray:PutTraceSegments *', 'xray:PutTelemetryRecords *'];
const VPC_NETWORK_INTERFACES = [
  'ec2:CreateNetworkInterface *',
  'ec2:DescribeNetworkInterfaces *',
  'ec2:DescribeSubnets *',
  'ec2:DeleteNetworkInterface *',
  'ec2:AssignPrivateIpAddresses *',
  'ec2:UnassignPrivateIpAddresses *',
];

const CREATE_RUN_KEYS = 'kms:GenerateDataKey DataKey purpose=run';
const READ_RUN_KEYS = 'kms:Decrypt DataKey purpose=run';
const CREATE_INDEX_KEY = 'kms:GenerateDataKey DataKey purpose=blind-index';
const READ_INDEX_KEY = 'kms:Decrypt DataKey purpose=blind-index';
const START_RUNS = 'states:StartExecution IngestStateMachine';
const DESCRIBE_RUNS = 'states:DescribeExecution executions-of-IngestStateMachine';
const READ_RUN_HISTORY = 'states:GetExecutionHistory executions-of-IngestStateMachine';
const SEAL_AUDIT = 'kms:GenerateMac AuditMacKey mac=HMAC_SHA_256';
const VERIFY_AUDIT_SEALS = 'kms:VerifyMac AuditMacKey mac=HMAC_SHA_256';
const READ_AUDIT_CHECKPOINTS = [
  's3:ListBucket AuditCheckpointBucket prefix=audit-checkpoints/*',
  's3:GetObject AuditCheckpointBucket/audit-checkpoints/*',
];
const WRITE_AUDIT_CHECKPOINTS = 's3:PutObject AuditCheckpointBucket/audit-checkpoints/*';
/** The claim check's payloads in their bucket: the key used through S3, for that bucket alone. */
const WRITE_PAYLOADS = [
  's3:PutObject PayloadBucket/????????-????-????-????-????????????/*',
  'kms:GenerateDataKey DataKey via-s3=PayloadBucket',
];
/** One run's prefix (run ids are UUIDs): a reader asking for a missing object is told 404. */
const LIST_RUN_PAYLOADS =
  's3:ListBucket PayloadBucket prefix=????????-????-????-????-????????????/*';
const READ_PAYLOADS = [
  LIST_RUN_PAYLOADS,
  's3:GetObject PayloadBucket/????????-????-????-????-????????????/*',
  'kms:Decrypt DataKey via-s3=PayloadBucket',
];
const PURGE_PAYLOADS = [
  LIST_RUN_PAYLOADS,
  's3:DeleteObject PayloadBucket/????????-????-????-????-????????????/*',
];
/** A stage between intake and Load: it reads its input payload and writes its output. */
const STAGE_PAYLOADS = [...READ_PAYLOADS, ...WRITE_PAYLOADS];
/** Checkpointing: the newest seal verified, the checkpoint signed, the latest one read, the new one written. */
const CHECKPOINT_AUDIT = [
  SEAL_AUDIT,
  VERIFY_AUDIT_SEALS,
  ...READ_AUDIT_CHECKPOINTS,
  WRITE_AUDIT_CHECKPOINTS,
];

interface Expected {
  /** Runs in the database VPC (everything that opens a PostgreSQL connection). */
  readonly database: boolean;
  readonly grants: readonly string[];
}

/** Every function, and all it may do besides writing its own logs and traces. */
const EXPECTED: Readonly<Record<string, Expected>> = {
  // Intake: a run key per batch, its payload, then the execution; a retry checks how an idle
  // run's stands.
  ingest: {
    database: true,
    grants: [CREATE_RUN_KEYS, START_RUNS, DESCRIBE_RUNS, ...WRITE_PAYLOADS],
  },
  // A re-drive is a new execution of the failed run; its key and payloads already exist (the
  // payload's row is checked, not its object).
  redriveRun: { database: true, grants: [START_RUNS] },
  listRuns: { database: true, grants: [] },
  getRun: { database: true, grants: [] },
  getRunHistory: { database: true, grants: [READ_RUN_HISTORY] },
  listRunRejections: { database: true, grants: [] },
  // Every function that appends audit rows seals them: one kms:GenerateMac per statement.
  putConsent: { database: true, grants: [SEAL_AUDIT] },
  listAudit: { database: true, grants: [SEAL_AUDIT] },
  verifyAudit: {
    database: true,
    grants: [SEAL_AUDIT, VERIFY_AUDIT_SEALS, ...READ_AUDIT_CHECKPOINTS],
  },
  // Reads decrypt rows under their run keys; the MRN search needs the blind-index key.
  getPatient: { database: true, grants: [READ_RUN_KEYS, SEAL_AUDIT] },
  searchPatients: { database: true, grants: [READ_RUN_KEYS, READ_INDEX_KEY, SEAL_AUDIT] },
  fhirReadPatient: { database: true, grants: [READ_RUN_KEYS, SEAL_AUDIT] },
  // FHIR reads resolve references to our ids: keys derived under the blind-index key.
  fhirSearchObservations: { database: true, grants: [READ_RUN_KEYS, READ_INDEX_KEY, SEAL_AUDIT] },
  fhirRead: { database: true, grants: [READ_RUN_KEYS, READ_INDEX_KEY, SEAL_AUDIT] },
  fhirSearch: { database: true, grants: [READ_RUN_KEYS, READ_INDEX_KEY, SEAL_AUDIT] },
  fhirEverything: { database: true, grants: [READ_RUN_KEYS, READ_INDEX_KEY, SEAL_AUDIT] },
  fhirMetadata: { database: false, grants: [] },
  health: { database: false, grants: [] },
  openapi: { database: false, grants: [] },
  docs: { database: false, grants: [] },
  console: { database: false, grants: [] },
  notFound: { database: false, grants: [] },
  ingestQueue: {
    database: true,
    grants: [
      'sqs:ReceiveMessage IngestQueue',
      'sqs:DeleteMessage IngestQueue',
      'sqs:ChangeMessageVisibility IngestQueue',
      'sqs:GetQueueAttributes IngestQueue',
      'kms:Decrypt DataKey via-sqs=IngestQueue',
      'sqs:SendMessage IngestDeadLetterQueue',
      'kms:GenerateDataKey DataKey via-sqs=IngestDeadLetterQueue',
      'kms:Decrypt DataKey via-sqs=IngestDeadLetterQueue',
      CREATE_RUN_KEYS,
      START_RUNS,
      DESCRIBE_RUNS,
      ...WRITE_PAYLOADS,
    ],
  },
  // Scheduled: idle runs against their executions; a failed one's outcome is published.
  reconcileRuns: {
    database: true,
    grants: [START_RUNS, DESCRIBE_RUNS, 'sqs:SendMessage PipelineEventsQueue'],
  },
  // Scheduled: deletes expired rows and the payloads of succeeded runs Publish left; it
  // decrypts, starts and sends nothing.
  purgeExpired: { database: true, grants: PURGE_PAYLOADS },
  // Scheduled: checkpoints the audit chain outside the database.
  checkpointAudit: { database: true, grants: CHECKPOINT_AUDIT },
  extract: { database: true, grants: [READ_RUN_KEYS, SEAL_AUDIT, ...STAGE_PAYLOADS] },
  validate: { database: true, grants: [READ_RUN_KEYS, SEAL_AUDIT, ...STAGE_PAYLOADS] },
  // The first stage to need the blind-index key creates it.
  consentCheck: {
    database: true,
    grants: [READ_RUN_KEYS, CREATE_INDEX_KEY, READ_INDEX_KEY, SEAL_AUDIT, ...STAGE_PAYLOADS],
  },
  transform: {
    database: true,
    grants: [READ_RUN_KEYS, CREATE_INDEX_KEY, READ_INDEX_KEY, SEAL_AUDIT, ...STAGE_PAYLOADS],
  },
  // Load writes no payload: the run's last one is Transform's.
  load: { database: true, grants: [READ_RUN_KEYS, SEAL_AUDIT, ...READ_PAYLOADS] },
  markFailed: { database: true, grants: [] },
  // pipeline-events is SSE-SQS: no key permission. Every run ends here: it checkpoints the audit chain.
  // A succeeded run's payloads are purged here.
  publish: {
    database: true,
    grants: ['sqs:SendMessage PipelineEventsQueue', ...CHECKPOINT_AUDIT, ...PURGE_PAYLOADS],
  },
};

/** Actions that take no resource ARN, so AWS requires `"Resource": "*"` for them. */
const ALLOWED_ON_ANY_RESOURCE = new Set([
  // X-Ray (Lambda active tracing, Step Functions tracing)
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  'xray:GetSamplingRules',
  'xray:GetSamplingTargets',
  // a VPC function's network interfaces
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
  // Step Functions' delivery of execution logs to CloudWatch Logs
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
]);

function conditionOf(statement: PolicyStatement): string | undefined {
  const condition = statement.Condition;
  if (condition === undefined) return undefined;
  const like = condition['StringLike'];
  const prefix = like?.['s3:prefix'];
  if (Object.keys(condition).length === 1 && Object.keys(like ?? {}).length === 1) {
    if (typeof prefix === 'string') return `prefix=${prefix}`;
  }
  const equals = condition['StringEquals'];
  if (Object.keys(condition).length !== 1 || equals === undefined) return JSON.stringify(condition);
  const keys = Object.keys(equals).sort();
  const macAlgorithm = equals['kms:MacAlgorithm'];
  if (keys.length === 1 && typeof macAlgorithm === 'string') return `mac=${macAlgorithm}`;
  const purpose = equals['kms:EncryptionContext:purpose'];
  if (keys.length === 1 && typeof purpose === 'string') return `purpose=${purpose}`;
  const queue = referencedId(equals['kms:EncryptionContext:aws:sqs:arn']);
  const viaSqs = JSON.stringify(equals['kms:ViaService']) === JSON.stringify(SQS_VIA_SERVICE);
  if (keys.length === 2 && viaSqs && queue !== undefined) return `via-sqs=${queue}`;
  const bucket = referencedId(equals['kms:EncryptionContext:aws:s3:arn']);
  const viaS3 = JSON.stringify(equals['kms:ViaService']) === JSON.stringify(S3_VIA_SERVICE);
  if (keys.length === 2 && viaS3 && bucket !== undefined) return `via-s3=${bucket}`;
  return JSON.stringify(condition);
}

/** `arn:…:execution:${Machine.Name}:*`, the executions of one state machine, as `executions-of-Machine`. */
function executionsOf(value: unknown): string | undefined {
  const sub = (value as { 'Fn::Sub'?: unknown } | null)?.['Fn::Sub'];
  const match =
    typeof sub === 'string'
      ? /^arn:\$\{AWS::Partition\}:states:\$\{AWS::Region\}:\$\{AWS::AccountId\}:execution:\$\{(\w+)\.Name\}:\*$/.exec(
          sub,
        )
      : null;
  return match?.[1] === undefined ? undefined : `executions-of-${match[1]}`;
}

function resourceName(value: unknown, ownLogGroup: string): string {
  if (typeof value === 'string') return value;
  const executions = executionsOf(value);
  if (executions !== undefined) return executions;
  // `${Bucket.Arn}/prefix/*`: objects under a prefix of one bucket, as `Bucket/prefix/*`.
  const sub = (value as { 'Fn::Sub'?: unknown } | null)?.['Fn::Sub'];
  const objects = typeof sub === 'string' ? /^\$\{(\w+)\.Arn\}(\/.+)$/.exec(sub) : null;
  if (objects !== null) return `${objects[1]}${objects[2]}`;
  const id = referencedId(value);
  if (id === ownLogGroup) return 'own-log-group';
  return id ?? JSON.stringify(value);
}

function grantsOf(fn: LambdaFunction): string[] {
  const ownLogGroup = `${fn.logicalId.replace(/LambdaFunction$/, '')}LogGroup`;
  return statementsOfRole(roleOf(fn)).flatMap((statement) => {
    const condition = conditionOf(statement);
    const effect = statement.Effect === 'Allow' ? [] : [statement.Effect];
    return asList(statement.Action).flatMap((action) =>
      asList(statement.Resource).map((target) =>
        [
          ...effect,
          action,
          resourceName(target, ownLogGroup),
          ...(condition ? [condition] : []),
        ].join(' '),
      ),
    );
  });
}

/** Every policy document anywhere in the template (role policies, trust, key and bucket policies). */
function policyDocuments(): Array<{ readonly where: string; readonly statement: PolicyStatement }> {
  const found: Array<{ where: string; statement: PolicyStatement }> = [];
  const visit = (where: string, value: unknown): void => {
    if (typeof value !== 'object' || value === null) return;
    const statements = (value as { Statement?: unknown }).Statement;
    if (Array.isArray(statements)) {
      for (const statement of statements as PolicyStatement[]) found.push({ where, statement });
      return;
    }
    for (const child of Object.values(value)) visit(where, child);
  };
  for (const [logicalId, { Properties }] of Object.entries(packagedTemplate().Resources)) {
    visit(logicalId, Properties);
  }
  return found;
}

function isWildcard(value: unknown): boolean {
  return typeof value === 'string' && value.includes('*');
}

function functionsAllowed(action: string): string[] {
  return lambdaFunctions()
    .filter((fn) =>
      statementsOfRole(roleOf(fn)).some(
        (statement) => statement.Effect === 'Allow' && asList(statement.Action).includes(action),
      ),
    )
    .map((fn) => fn.name)
    .sort();
}

const roleStatements = resourcesOfType('AWS::IAM::Role').flatMap(([roleId]) =>
  statementsOfRole(roleId).map((statement) => ({ roleId, statement })),
);

describe('IAM in the packaged template', () => {
  it('checks every function the template deploys, and each runs as a role of its own', () => {
    // Act
    const functions = lambdaFunctions();
    const roles = functions.map(roleOf);

    // Assess
    expect(functions.map((fn) => fn.name).sort()).toEqual(Object.keys(EXPECTED).sort());
    expect(new Set(roles).size).toBe(functions.length);
  });

  it.each(Object.entries(EXPECTED))('lets %s do exactly what it needs', (name, expected) => {
    // Prepare
    const fn = lambdaFunction(name);

    // Act
    const grants = grantsOf(fn);

    // Assess
    expect(grants.sort()).toEqual(
      [
        ...OWN_LOGS,
        ...TRACES,
        ...(expected.database ? VPC_NETWORK_INTERFACES : []),
        ...expected.grants,
      ].sort(),
    );
  });

  it.each(lambdaFunctions().map((fn) => [fn.name, roleOf(fn)] as const))(
    "lets only Lambda assume %s's role, with no managed policy",
    (_name, roleId) => {
      // Act
      const properties = propertiesOf(roleId);

      // Assess
      expect(properties['ManagedPolicyArns']).toBeUndefined();
      expect(properties['AssumeRolePolicyDocument']).toEqual({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { Service: 'lambda.amazonaws.com' },
            Action: 'sts:AssumeRole',
          },
        ],
      });
    },
  );

  it('lets only the functions that start or check runs call states:, on the ingest state machine and its executions only', () => {
    // Act
    const starting = roleStatements.filter(({ statement }) =>
      asList(statement.Action).some((action) => action.startsWith('states:')),
    );

    // Assess
    expect(functionsAllowed('states:StartExecution')).toEqual([
      'ingest',
      'ingestQueue',
      'reconcileRuns',
      'redriveRun',
    ]);
    expect(functionsAllowed('states:DescribeExecution')).toEqual([
      'ingest',
      'ingestQueue',
      'reconcileRuns',
    ]);
    expect(functionsAllowed('states:GetExecutionHistory')).toEqual(['getRunHistory']);
    for (const { statement } of starting) {
      const [action] = asList(statement.Action);
      expect(asList(statement.Action)).toHaveLength(1);
      expect(asList(statement.Resource)).toEqual(
        action === 'states:StartExecution'
          ? [{ Ref: 'IngestStateMachine' }]
          : [
              {
                'Fn::Sub':
                  // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder
                  'arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${IngestStateMachine.Name}:*',
              },
            ],
      );
    }
  });

  it('lets only the functions that encrypt call kms:GenerateDataKey', () => {
    // Assess
    expect(functionsAllowed('kms:GenerateDataKey')).toEqual([
      'consentCheck',
      'extract',
      'ingest',
      'ingestQueue',
      'transform',
      'validate',
    ]);
  });

  it('lets only the writers put payloads, the stages read them, and the purges delete them', () => {
    // Assess
    expect(functionsAllowed('s3:PutObject')).toEqual(
      [
        'checkpointAudit',
        'consentCheck',
        'extract',
        'ingest',
        'ingestQueue',
        'publish',
        'transform',
        'validate',
      ].sort(),
    );
    expect(functionsAllowed('s3:GetObject')).toEqual(
      [
        'checkpointAudit',
        'consentCheck',
        'extract',
        'load',
        'publish',
        'transform',
        'validate',
        'verifyAudit',
      ].sort(),
    );
    expect(functionsAllowed('s3:DeleteObject')).toEqual(['publish', 'purgeExpired']);
    // Their s3:PutObject and s3:GetObject are on the audit checkpoints' prefix alone.
    for (const name of ['publish', 'checkpointAudit', 'verifyAudit']) {
      const payloadGrants = grantsOf(lambdaFunction(name)).filter((grant) =>
        grant.includes('PayloadBucket/'),
      );
      expect(payloadGrants, name).toEqual(
        name === 'publish'
          ? ['s3:DeleteObject PayloadBucket/????????-????-????-????-????????????/*']
          : [],
      );
    }
  });

  it('grants payload objects under a run’s prefix alone: every key a store puts, and no other key', () => {
    // Prepare: IAM's resource wildcards, `?` one character and `*` any run of them
    const resources = new Set(
      lambdaFunctions().flatMap((fn) =>
        grantsOf(fn)
          .filter((grant) => /^s3:(Put|Get|Delete)Object PayloadBucket\//.test(grant))
          .map((grant) => grant.split(' ')[1]),
      ),
    );
    const [resource] = resources;
    const like = new RegExp(
      `^${String(resource).replaceAll('?', '.').replaceAll('*', '.*')}$`,
      's',
    );
    const runId = randomUUID();

    // Act
    const keys = ['received', 'extracted', 'transformed'].map(
      (payload) => `PayloadBucket/${payloadLocation(runId, payload, randomUUID())}`,
    );

    // Assess
    expect(resources.size).toBe(1);
    for (const key of keys) expect(key).toMatch(like);
    expect('PayloadBucket/notes.txt').not.toMatch(like);
    expect(`PayloadBucket/${runId.slice(0, 8)}/received`).not.toMatch(like);
  });

  it('lets the payload readers and purges list one run at a time: the prefix of every key a store puts, and no shorter one', () => {
    // Prepare: IAM's StringLike, `?` one character and `*` any run of them
    const listings = roleStatements.filter(
      ({ statement }) =>
        asList(statement.Action).includes('s3:ListBucket') &&
        referencedId(asList(statement.Resource)[0]) === 'PayloadBucket',
    );
    const patterns = new Set(
      listings.map(({ statement }) => statement.Condition?.['StringLike']?.['s3:prefix']),
    );
    const [pattern] = patterns;
    const like = new RegExp(`^${String(pattern).replaceAll('?', '.').replaceAll('*', '.*')}$`, 's');
    const runId = randomUUID();

    // Act
    const keys = ['received', 'extracted', 'transformed'].map((payload) =>
      payloadLocation(runId, payload, randomUUID()),
    );

    // Assess
    expect(functionsAllowed('s3:ListBucket')).toEqual(
      [
        'checkpointAudit',
        'consentCheck',
        'extract',
        'load',
        'publish',
        'purgeExpired',
        'transform',
        'validate',
        'verifyAudit',
      ].sort(),
    );
    expect(listings.map(({ statement }) => Object.keys(statement.Condition ?? {}))).toEqual(
      listings.map(() => ['StringLike']),
    );
    expect(patterns.size).toBe(1);
    for (const key of keys) expect(key).toMatch(like);
    expect(`${runId}/`).toMatch(like);
    expect('').not.toMatch(like);
    expect(runId.slice(0, 8)).not.toMatch(like);
  });

  it.each(
    roleStatements
      .filter(({ statement }) =>
        asList(statement.Action).some((action) => action.startsWith('kms:')),
      )
      .map(({ roleId, statement }) => [roleId, statement.Sid ?? '?', statement] as const),
  )(
    'conditions the key use of %s (%s) on the purpose, on SQS for one queue, on S3 for the payload bucket, or on the MAC algorithm',
    (_role, _sid, statement) => {
      // Act
      const condition = conditionOf(statement) ?? 'none';

      // Assess
      expect(condition).toMatch(
        /^(purpose=(run|blind-index)|via-sqs=Ingest(Queue|DeadLetterQueue)|via-s3=PayloadBucket|mac=HMAC_SHA_256)$/,
      );
      expect(asList(statement.Resource)).toEqual([
        condition.startsWith('mac=')
          ? { 'Fn::GetAtt': ['AuditMacKey', 'Arn'] }
          : { 'Fn::GetAtt': ['DataKey', 'Arn'] },
      ]);
    },
  );

  it('grants a wildcard action to no one but the account root, in the key policy', () => {
    // Act
    const wildcards = policyDocuments().filter(
      ({ statement }) => statement.Effect === 'Allow' && asList(statement.Action).some(isWildcard),
    );

    // Assess
    expect(wildcards).toEqual(
      ['DataKey', 'AuditMacKey'].map((where) => ({
        where,
        statement: expect.objectContaining({
          Principal: ACCOUNT_ROOT_PRINCIPAL,
          Action: 'kms:*',
        }),
      })),
    );
  });

  it.each(
    roleStatements
      .filter(
        ({ statement }) =>
          statement.Effect === 'Allow' && asList(statement.Resource).some(isWildcard),
      )
      .map(({ roleId, statement }) => [roleId, statement.Sid ?? '?', statement] as const),
  )(
    'allows "*" as the resource in %s (%s) only for actions that take no ARN',
    (_role, _sid, statement) => {
      // Act
      const actions = asList(statement.Action);

      // Assess
      expect(asList(statement.Resource)).toEqual(['*']);
      expect(actions.filter((action) => !ALLOWED_ON_ANY_RESOURCE.has(action))).toEqual([]);
    },
  );

  it('lets the state machine invoke the seven stage functions and nothing else', () => {
    // Act
    const invoke = statementsOfRole('IngestStateMachineRole').filter((statement) =>
      asList(statement.Action).some((action) => action.startsWith('lambda:')),
    );

    // Assess
    expect(invoke).toHaveLength(1);
    expect(asList(invoke[0]?.Action)).toEqual(['lambda:InvokeFunction']);
    expect(asList(invoke[0]?.Resource).map(referencedId).sort()).toEqual(
      [
        'ConsentCheckLambdaFunction',
        'ExtractLambdaFunction',
        'LoadLambdaFunction',
        'MarkFailedLambdaFunction',
        'PublishLambdaFunction',
        'TransformLambdaFunction',
        'ValidateLambdaFunction',
      ].sort(),
    );
    expect(propertiesOf('IngestStateMachineRole')['AssumeRolePolicyDocument']).toMatchObject({
      Statement: [{ Principal: { Service: 'states.amazonaws.com' }, Action: 'sts:AssumeRole' }],
    });
  });
});
