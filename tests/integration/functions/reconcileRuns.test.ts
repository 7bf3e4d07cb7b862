import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  type ExecutionStatus,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { findIngestRun, markIngestRunFailed } from '../../../lib/db/repositories/ingestRuns.ts';
import type { ReconcileSummary } from '../../../lib/pipeline/runExecutions.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { useDeployedEnvironment } from '../../helpers/deployedEnvironment.ts';
import { flatRecord, useTestPipeline } from '../../helpers/pipeline.ts';
import { lambdaContext } from '../../unit/http/httpEvent.ts';

const STATE_MACHINE_ARN =
  'arn:aws:states:us-east-1:000000000000:stateMachine:healthcare-etl-ingest';
const EVENTS_URL =
  'http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/pipeline-events';
const IDLE_SECONDS = 600;

const executionArnOf = (name: string) =>
  `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${name}`;

type ReconcileHandler = (
  event: unknown,
  context: typeof lambdaContext,
) => Promise<ReconcileSummary>;

describe('functions/queue/reconcileRuns, configured from the environment as deployed', () => {
  const sfnMock = mockClient(SFNClient);
  const sqsMock = mockClient(SQSClient);
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);
  useDeployedEnvironment(database, {
    AWS_REGION: 'us-east-1',
    STATE_MACHINE_ARN,
    PIPELINE_EVENTS_QUEUE_URL: EVENTS_URL,
    RECONCILE_IDLE_SECONDS: String(IDLE_SECONDS),
    RECONCILE_MAX_RUNS: '100',
  });
  let handler: ReconcileHandler;

  /** A run accepted as intake does, left queued, and idle for `idleSeconds`. */
  async function idleRun(idleSeconds: number): Promise<string> {
    const runId = await pipeline.submit([flatRecord()]);
    await database.pool.query(
      `UPDATE ingest_runs SET updated_at = now() - make_interval(secs => $2) WHERE id = $1`,
      [runId, idleSeconds],
    );
    return runId;
  }

  beforeAll(async () => {
    ({ handler } = (await import('../../../functions/queue/reconcileRuns.ts')) as {
      handler: ReconcileHandler;
    });
  });

  beforeEach(async () => {
    sfnMock.reset();
    sqsMock.reset();
    sfnMock
      .on(StartExecutionCommand)
      .resolves({ executionArn: 'arn:execution', startDate: new Date() });
    sqsMock.on(SendMessageCommand).resolves({ MessageId: 'c0ffee00-0000-4000-8000-000000000004' });
    // Each test settles the runs it made: earlier ones end, so they are not idle any more.
    await database.pool.query(
      `UPDATE ingest_runs SET status = 'succeeded' WHERE status IN ('queued', 'running')`,
    );
  });

  afterAll(() => {
    sfnMock.restore();
    sqsMock.restore();
  });

  it('settles each idle run by its execution: running left, missing started, ended failed and published', async () => {
    // Prepare: one idle run per state DescribeExecution can report, and one not idle yet.
    const states: ReadonlyArray<ExecutionStatus | 'DOES_NOT_EXIST'> = [
      'RUNNING',
      'PENDING_REDRIVE',
      'DOES_NOT_EXIST',
      'SUCCEEDED',
      'FAILED',
      'TIMED_OUT',
      'ABORTED',
    ];
    const runs = new Map<ExecutionStatus | 'DOES_NOT_EXIST', string>();
    for (const state of states) runs.set(state, await idleRun(IDLE_SECONDS + 60));
    const fresh = await idleRun(IDLE_SECONDS - 60);
    for (const [state, runId] of runs) {
      const describe = sfnMock.on(DescribeExecutionCommand, {
        executionArn: executionArnOf(runId),
      });
      if (state === 'DOES_NOT_EXIST') {
        describe.rejects(
          new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }),
        );
      } else {
        describe.resolves({ executionArn: executionArnOf(runId), status: state });
      }
    }

    // Act
    const summary = await handler({}, lambdaContext);

    // Assess
    expect(summary).toStrictEqual({ checked: 7, executing: 2, resumed: 1, failed: 4, errors: 0 });
    const described = sfnMock
      .commandCalls(DescribeExecutionCommand)
      .map((call) => call.args[0].input.executionArn);
    expect(described.sort()).toEqual([...runs.values()].map(executionArnOf).sort());
    const missing = runs.get('DOES_NOT_EXIST') ?? '';
    expect(sfnMock.commandCalls(StartExecutionCommand).map((call) => call.args[0].input)).toEqual([
      {
        stateMachineArn: STATE_MACHINE_ARN,
        name: missing,
        input: JSON.stringify({ runId: missing }),
      },
    ]);
    const statusOf = async (state: ExecutionStatus | 'DOES_NOT_EXIST') => {
      const run = await findIngestRun(database.pool, runs.get(state) ?? '');
      return [run?.status, run?.errorCode];
    };
    expect(await statusOf('RUNNING')).toEqual(['queued', null]);
    expect(await statusOf('PENDING_REDRIVE')).toEqual(['queued', null]);
    expect(await statusOf('DOES_NOT_EXIST')).toEqual(['queued', null]);
    expect(await statusOf('SUCCEEDED')).toEqual(['failed', 'execution-ended']);
    expect(await statusOf('FAILED')).toEqual(['failed', 'execution-failed']);
    expect(await statusOf('TIMED_OUT')).toEqual(['failed', 'execution-timed-out']);
    expect(await statusOf('ABORTED')).toEqual(['failed', 'execution-aborted']);
    expect((await findIngestRun(database.pool, fresh))?.status).toBe('queued');
    const published = sqsMock
      .commandCalls(SendMessageCommand)
      .map((call) => JSON.parse(call.args[0].input.MessageBody ?? '{}') as Record<string, unknown>);
    expect(
      published.map((event) => [event['runId'], event['type'], event['errorCode']]).sort(),
    ).toEqual(
      [
        [runs.get('SUCCEEDED'), 'ingest.run.failed', 'execution-ended'],
        [runs.get('FAILED'), 'ingest.run.failed', 'execution-failed'],
        [runs.get('TIMED_OUT'), 'ingest.run.failed', 'execution-timed-out'],
        [runs.get('ABORTED'), 'ingest.run.failed', 'execution-aborted'],
      ].sort(),
    );
  });

  it('leaves a run it cannot settle now for the next pass, and settles the others', async () => {
    // Prepare: Step Functions throttles one run's DescribeExecution; the other's execution is gone.
    const throttled = await idleRun(IDLE_SECONDS + 60);
    const missing = await idleRun(IDLE_SECONDS + 30);
    sfnMock
      .on(DescribeExecutionCommand, { executionArn: executionArnOf(throttled) })
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    sfnMock
      .on(DescribeExecutionCommand, { executionArn: executionArnOf(missing) })
      .rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));

    // Act
    const summary = await handler({}, lambdaContext);

    // Assess
    expect(summary).toStrictEqual({ checked: 2, executing: 0, resumed: 1, failed: 0, errors: 1 });
    expect(await findIngestRun(database.pool, throttled)).toMatchObject({
      status: 'queued',
      errorCode: null,
    });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(1);
  });

  it('does not touch a run that ended, however long ago', async () => {
    // Prepare
    const runId = await idleRun(IDLE_SECONDS * 10);
    await markIngestRunFailed(database.pool, runId, 'stage-timeout');
    await database.pool.query(
      `UPDATE ingest_runs SET updated_at = now() - interval '1 day' WHERE id = $1`,
      [runId],
    );

    // Act
    const summary = await handler({}, lambdaContext);

    // Assess
    expect(summary).toStrictEqual({ checked: 0, executing: 0, resumed: 0, failed: 0, errors: 0 });
    expect(sfnMock.calls()).toHaveLength(0);
    expect((await findIngestRun(database.pool, runId))?.errorCode).toBe('stage-timeout');
  });
});
