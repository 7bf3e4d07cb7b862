import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findIngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import { listPipelineEvents } from '../../../lib/db/repositories/pipelineEvents.ts';
import { InProcessWorkflow } from '../../../local/inProcessWorkflow.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { useDeployedEnvironment } from '../../helpers/deployedEnvironment.ts';
import { flatRecord } from '../../helpers/pipeline.ts';
import { sqsEvent, sqsRecord } from '../../helpers/sqsEvents.ts';
import { stageFunctionHandlers } from '../../helpers/stageFunctions.ts';
import { lambdaContext } from '../../unit/http/httpEvent.ts';

const STATE_MACHINE_ARN =
  'arn:aws:states:us-east-1:000000000000:stateMachine:healthcare-etl-ingest';
const DLQ_URL =
  'http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/ingest-queue-dlq';
const EVENTS_URL =
  'http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/pipeline-events';
const CANARIES = { name: 'Fnqz Queuefunction', mrn: 'MRN-FN-QUEUE-31337', ssn: '987-65-4477' };

type QueueHandler = (
  event: SQSEvent,
  context: typeof lambdaContext,
) => Promise<SQSBatchResponse | undefined>;

describe('functions/queue/ingest and Publish, configured from the environment as deployed', () => {
  const sfnMock = mockClient(SFNClient);
  const sqsMock = mockClient(SQSClient);
  const database = useTestDatabase();
  useDeployedEnvironment(database, {
    AWS_REGION: 'us-east-1',
    STATE_MACHINE_ARN,
    INGEST_QUEUE_DLQ_URL: DLQ_URL,
    PIPELINE_EVENTS_QUEUE_URL: EVENTS_URL,
    INGEST_QUEUE_ACTOR: undefined,
  });

  beforeAll(() => {
    sfnMock
      .on(StartExecutionCommand)
      .resolves({ executionArn: 'arn:execution', startDate: new Date() });
    sqsMock.on(SendMessageCommand).resolves({ MessageId: 'c0ffee00-0000-4000-8000-000000000003' });
  });

  afterAll(() => {
    sfnMock.restore();
    sqsMock.restore();
  });

  it('starts a run per good message, dead-letters the bad one, and Publish sends the outcome to pipeline-events', async () => {
    // Prepare
    const { handler } = (await import('../../../functions/queue/ingest.ts')) as {
      handler: QueueHandler;
    };
    const good = sqsRecord({
      body: JSON.stringify({ records: [flatRecord(CANARIES)] }),
      attributes: { contentType: 'application/json' },
    });
    const bad = sqsRecord({ body: `{"records": [{"name": "${CANARIES.name}"` });

    // Act
    const response = await handler(sqsEvent(good, bad), lambdaContext);

    // Assess: the consumer
    expect(response).toStrictEqual({ batchItemFailures: [] });
    const starts = sfnMock.commandCalls(StartExecutionCommand).map((call) => call.args[0].input);
    expect(starts).toHaveLength(1);
    const runId = starts[0]!.name!;
    expect(starts[0]).toStrictEqual({
      stateMachineArn: STATE_MACHINE_ARN,
      name: runId,
      input: JSON.stringify({ runId }),
    });
    expect(await findIngestRun(database.pool, runId)).toMatchObject({
      status: 'queued',
      format: 'flat',
      source: 'queue',
      actor: 'system:ingest-queue',
    });
    const [letter, ...others] = sqsMock
      .commandCalls(SendMessageCommand)
      .map((call) => call.args[0].input);
    expect(others).toEqual([]);
    expect(letter).toMatchObject({
      QueueUrl: DLQ_URL,
      MessageBody: bad.body,
      MessageAttributes: { failureCode: { DataType: 'String', StringValue: 'validation-failed' } },
    });

    // Act: the state machine's Tasks, each bound to its function module
    const stages = await stageFunctionHandlers();
    const execution = await new InProcessWorkflow(stages, { retryIntervalMs: 0 }).execute(runId);

    // Assess: Publish
    expect(execution.status).toBe('SUCCEEDED');
    const events = sqsMock
      .commandCalls(SendMessageCommand)
      .map((call) => call.args[0].input)
      .filter((input) => input.QueueUrl === EVENTS_URL);
    expect(events).toHaveLength(1);
    expect(events[0]!.MessageAttributes).toStrictEqual({
      runId: { DataType: 'String', StringValue: runId },
      status: { DataType: 'String', StringValue: 'succeeded' },
      type: { DataType: 'String', StringValue: 'ingest.run.succeeded' },
      attempt: { DataType: 'Number', StringValue: '0' },
    });
    expect(JSON.parse(events[0]!.MessageBody!)).toMatchObject({
      type: 'ingest.run.succeeded',
      runId,
      attempt: 0,
      status: 'succeeded',
      counts: expect.objectContaining({ received: 1 }),
      errorCode: null,
    });
    for (const canary of Object.values(CANARIES)) {
      expect(JSON.stringify(events[0])).not.toContain(canary);
    }
    expect(await listPipelineEvents(database.pool, runId)).toEqual([]);
    expect((await findIngestRun(database.pool, runId))?.publishedAt).toBeInstanceOf(Date);
  });
});
