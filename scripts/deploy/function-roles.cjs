'use strict';

/**
 * One IAM role per Lambda function (serverless.yml `role: <Function>Role`), granting only:
 * - its own log group (CreateLogStream, PutLogEvents) and X-Ray traces;
 * - its network interfaces, when it runs in the database VPC;
 * - the permissions custom.functionPermissions names for it, as GRANTS defines them.
 * A function without an entry, an unknown permission or a mismatched `role:` fails packaging.
 */

const DATA_KEY_ARN = { 'Fn::GetAtt': ['DataKey', 'Arn'] };

/** A KMS operation on data keys of one purpose only (the encryption context lib/crypto/keyring.ts sets). */
function dataKeyUse(sid, action, purpose) {
  return {
    Sid: sid,
    Effect: 'Allow',
    Action: action,
    Resource: DATA_KEY_ARN,
    Condition: { StringEquals: { 'kms:EncryptionContext:purpose': purpose } },
  };
}

/** The key as SQS uses it for one SSE-KMS queue: only through SQS, only for that queue. */
function queueKeyUse(sid, actions, queueLogicalId) {
  return {
    Sid: sid,
    Effect: 'Allow',
    Action: actions,
    Resource: DATA_KEY_ARN,
    Condition: {
      StringEquals: {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder
        'kms:ViaService': { 'Fn::Sub': 'sqs.${AWS::Region}.amazonaws.com' },
        'kms:EncryptionContext:aws:sqs:arn': { 'Fn::GetAtt': [queueLogicalId, 'Arn'] },
      },
    },
  };
}

const AUDIT_MAC_KEY_ARN = { 'Fn::GetAtt': ['AuditMacKey', 'Arn'] };
const CHECKPOINT_OBJECTS = {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder
  'Fn::Sub': '${AuditCheckpointBucket.Arn}/audit-checkpoints/*',
};

const PAYLOAD_BUCKET_ARN = { 'Fn::GetAtt': ['PayloadBucket', 'Arn'] };
/** A run's prefix: every payload key is `<runId>/<payload>-<attempt>`, run ids being UUIDs. */
const RUN_PREFIX = '????????-????-????-????-????????????/*';
/** Payloads, under a run's prefix: no grant reaches a key no store would put. */
const PAYLOAD_OBJECTS = { 'Fn::Sub': `\${PayloadBucket.Arn}/${RUN_PREFIX}` };
/**
 * Listing one run's payloads (`<runId>/...`, run ids being UUIDs), never the bucket's run ids. S3
 * checks a GetObject of a missing key as a listing of that key: allowed, it answers 404 NoSuchKey
 * (the stage reports stage-payload-missing), not 403 AccessDenied (an internal error).
 */
function listRunPayloads(sid) {
  return {
    Sid: sid,
    Effect: 'Allow',
    Action: 's3:ListBucket',
    Resource: PAYLOAD_BUCKET_ARN,
    Condition: { StringLike: { 's3:prefix': RUN_PREFIX } },
  };
}

/** The key as S3 uses it for the payload bucket's SSE-KMS: only through S3, only for that bucket. */
function payloadKeyUse(sid, action) {
  return {
    Sid: sid,
    Effect: 'Allow',
    Action: action,
    Resource: DATA_KEY_ARN,
    Condition: {
      StringEquals: {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder
        'kms:ViaService': { 'Fn::Sub': 's3.${AWS::Region}.amazonaws.com' },
        // With the bucket key on, S3 asks KMS in the bucket's name (its ARN as the context).
        'kms:EncryptionContext:aws:s3:arn': PAYLOAD_BUCKET_ARN,
      },
    },
  };
}

/** A MAC operation on the audit MAC key, with the one algorithm the audit chain uses. */
function auditMacUse(sid, action) {
  return {
    Sid: sid,
    Effect: 'Allow',
    Action: action,
    Resource: AUDIT_MAC_KEY_ARN,
    Condition: { StringEquals: { 'kms:MacAlgorithm': 'HMAC_SHA_256' } },
  };
}

const GRANTS = {
  // Intake: a fresh data key per run (purpose run).
  createRunKeys: [dataKeyUse('CreateRunKeys', 'kms:GenerateDataKey', 'run')],
  // Stages and reads: unwrap run keys (stage payloads, the PHI columns of stored rows).
  readRunKeys: [dataKeyUse('ReadRunKeys', 'kms:Decrypt', 'run')],
  // The store's blind-index key: created once by whichever stage needs it first.
  createIndexKey: [dataKeyUse('CreateIndexKey', 'kms:GenerateDataKey', 'blind-index')],
  readIndexKey: [dataKeyUse('ReadIndexKey', 'kms:Decrypt', 'blind-index')],
  startRuns: [
    {
      Sid: 'StartRuns',
      Effect: 'Allow',
      Action: 'states:StartExecution',
      Resource: { Ref: 'IngestStateMachine' },
    },
  ],
  // The reconciler and retried intake ask how a run's execution stands: this machine's executions only.
  describeRuns: [
    {
      Sid: 'DescribeRuns',
      Effect: 'Allow',
      Action: 'states:DescribeExecution',
      Resource: {
        'Fn::Sub':
          // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder
          'arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${IngestStateMachine.Name}:*',
      },
    },
  ],
  // The console shows a run's execution events: this machine's executions only.
  readRunHistory: [
    {
      Sid: 'ReadRunHistory',
      Effect: 'Allow',
      Action: 'states:GetExecutionHistory',
      Resource: {
        'Fn::Sub':
          // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder
          'arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${IngestStateMachine.Name}:*',
      },
    },
  ],
  consumeIngestQueue: [
    {
      Sid: 'ConsumeIngestQueue',
      Effect: 'Allow',
      Action: [
        'sqs:ReceiveMessage',
        'sqs:DeleteMessage',
        'sqs:ChangeMessageVisibility',
        'sqs:GetQueueAttributes',
      ],
      Resource: { 'Fn::GetAtt': ['IngestQueue', 'Arn'] },
    },
    queueKeyUse('DecryptIngestQueueMessages', 'kms:Decrypt', 'IngestQueue'),
  ],
  // A message no retry can mend goes to the dead-letter queue at once (lib/queue/ingestQueue.ts).
  quarantineIngestMessages: [
    {
      Sid: 'SendToIngestDeadLetterQueue',
      Effect: 'Allow',
      Action: 'sqs:SendMessage',
      Resource: { 'Fn::GetAtt': ['IngestDeadLetterQueue', 'Arn'] },
    },
    queueKeyUse(
      'EncryptIngestDeadLetterMessages',
      ['kms:GenerateDataKey', 'kms:Decrypt'],
      'IngestDeadLetterQueue',
    ),
  ],
  // pipeline-events is SSE-SQS: sending needs no KMS permission.
  publishRunEvents: [
    {
      Sid: 'PublishRunEvents',
      Effect: 'Allow',
      Action: 'sqs:SendMessage',
      Resource: { 'Fn::GetAtt': ['PipelineEventsQueue', 'Arn'] },
    },
  ],
  // Audit rows are sealed in their transaction: one MAC per statement (lib/db/repositories/auditLog.ts).
  sealAudit: [auditMacUse('SealAudit', 'kms:GenerateMac')],
  verifyAuditSeals: [auditMacUse('VerifyAuditSeals', 'kms:VerifyMac')],
  // The checkpoints' prefix only: the newest is found by listing it (lib/audit/s3CheckpointStore.ts).
  readAuditCheckpoints: [
    {
      Sid: 'ListAuditCheckpoints',
      Effect: 'Allow',
      Action: 's3:ListBucket',
      Resource: { 'Fn::GetAtt': ['AuditCheckpointBucket', 'Arn'] },
      Condition: { StringLike: { 's3:prefix': 'audit-checkpoints/*' } },
    },
    {
      Sid: 'ReadAuditCheckpoints',
      Effect: 'Allow',
      Action: 's3:GetObject',
      Resource: CHECKPOINT_OBJECTS,
    },
  ],
  writeAuditCheckpoints: [
    {
      Sid: 'WriteAuditCheckpoints',
      Effect: 'Allow',
      Action: 's3:PutObject',
      Resource: CHECKPOINT_OBJECTS,
    },
  ],
  // The claim check's payloads (lib/pipeline/s3PayloadStore.ts): put by intake and the stages
  // that write one, read by the stages, deleted by a run's purge alone. A writer cannot delete
  // an attempt's orphan (a rolled-back or duplicate attempt's object): the run's purge or the
  // bucket's lifecycle rule does, and no writer may delete another run's payloads.
  writePayloads: [
    { Sid: 'WritePayloads', Effect: 'Allow', Action: 's3:PutObject', Resource: PAYLOAD_OBJECTS },
    payloadKeyUse('EncryptPayloads', 'kms:GenerateDataKey'),
  ],
  readPayloads: [
    listRunPayloads('FindPayloads'),
    { Sid: 'ReadPayloads', Effect: 'Allow', Action: 's3:GetObject', Resource: PAYLOAD_OBJECTS },
    payloadKeyUse('DecryptPayloads', 'kms:Decrypt'),
  ],
  purgePayloads: [
    listRunPayloads('ListPayloads'),
    {
      Sid: 'DeletePayloads',
      Effect: 'Allow',
      Action: 's3:DeleteObject',
      Resource: PAYLOAD_OBJECTS,
    },
  ],
};

// X-Ray and a VPC function's network interfaces take no resource ARNs: AWS requires "*".
const WRITE_TRACES = {
  Sid: 'WriteTraces',
  Effect: 'Allow',
  Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
  Resource: '*',
};

const MANAGE_NETWORK_INTERFACES = {
  Sid: 'ManageVpcNetworkInterfaces',
  Effect: 'Allow',
  Action: [
    'ec2:CreateNetworkInterface',
    'ec2:DescribeNetworkInterfaces',
    'ec2:DescribeSubnets',
    'ec2:DeleteNetworkInterface',
    'ec2:AssignPrivateIpAddresses',
    'ec2:UnassignPrivateIpAddresses',
  ],
  Resource: '*',
};

/** The Framework's logical-id prefix of a function (IngestQueue for ingestQueue). */
function normalizedName(functionName) {
  const name = functionName.replace(/-/g, 'Dash').replace(/_/g, 'Underscore');
  return `${name.charAt(0).toUpperCase()}${name.slice(1)}`;
}

function grantsFor(functionName, permissions) {
  if (!Array.isArray(permissions)) {
    throw new Error(`custom.functionPermissions has no entry for function '${functionName}'`);
  }
  return permissions.flatMap((permission) => {
    const statements = GRANTS[permission];
    if (statements === undefined) {
      throw new Error(
        `custom.functionPermissions.${functionName}: unknown permission '${permission}' (known: ${Object.keys(GRANTS).join(', ')})`,
      );
    }
    return statements;
  });
}

function roleFor(functionName, inVpc, permissions) {
  const ownLogs = {
    Sid: 'WriteOwnLogs',
    Effect: 'Allow',
    Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    Resource: { 'Fn::GetAtt': [`${normalizedName(functionName)}LogGroup`, 'Arn'] },
  };
  return {
    Type: 'AWS::IAM::Role',
    Properties: {
      AssumeRolePolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { Service: 'lambda.amazonaws.com' },
            Action: 'sts:AssumeRole',
          },
        ],
      },
      Policies: [
        {
          PolicyName: functionName,
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              ownLogs,
              WRITE_TRACES,
              ...(inVpc ? [MANAGE_NETWORK_INTERFACES] : []),
              ...grantsFor(functionName, permissions),
            ],
          },
        },
      ],
    },
  };
}

module.exports = async ({ resolveConfigurationProperty }) => {
  const functions = (await resolveConfigurationProperty(['functions'])) ?? {};
  const permissions = (await resolveConfigurationProperty(['custom', 'functionPermissions'])) ?? {};
  for (const name of Object.keys(permissions)) {
    if (!(name in functions)) {
      throw new Error(`custom.functionPermissions names '${name}', which is not a function`);
    }
  }
  const Resources = {};
  for (const [functionName, definition] of Object.entries(functions)) {
    const roleId = `${normalizedName(functionName)}Role`;
    if (definition.role !== roleId) {
      throw new Error(`function '${functionName}' must name its own role: role: ${roleId}`);
    }
    const inVpc = typeof definition.vpc === 'object' && definition.vpc !== null;
    Resources[roleId] = roleFor(functionName, inVpc, permissions[functionName]);
  }
  return { Resources };
};
