import { randomUUID } from 'node:crypto';
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadIngestDefinition } from '../../../lib/workflow/ingestDefinition.ts';
import {
  type RunningStepFunctions,
  startLocalStepFunctions,
} from '../../../local/stepFunctionsEndpoint.ts';

const REGION = 'us-east-1';

/** Stage Lambdas as a fake: the state named in the run id's map fails with the given name. */
const failures = new Map<string, { state: string; name: string }>();

async function invokeTask(state: string, input: unknown): Promise<unknown> {
  const { runId, counts, status } = input as {
    runId: string;
    counts?: Record<string, number>;
    status?: string;
  };
  const failure = failures.get(runId);
  if (failure?.state === state) {
    throw Object.assign(new Error(`${failure.name} in the stage`), { name: failure.name });
  }
  if (state === 'MarkFailed') return { runId, counts: counts ?? {}, status: 'failed' };
  if (state === 'Publish') return { runId, counts: counts ?? {}, status: status ?? 'succeeded' };
  return { runId, counts: counts ?? {} };
}

describe('DescribeExecution of a failed execution on the local endpoint', () => {
  let stepFunctions: RunningStepFunctions;
  let client: SFNClient;

  async function finished(executionArn: string): Promise<DescribeExecutionCommandOutput> {
    for (;;) {
      const described = await client.send(new DescribeExecutionCommand({ executionArn }));
      if (described.status !== 'RUNNING') return described;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  beforeAll(async () => {
    stepFunctions = await startLocalStepFunctions({
      definition: loadIngestDefinition(),
      stateMachineName: 'test-ingest',
      region: REGION,
      invokeTask,
    });
    client = new SFNClient({
      endpoint: stepFunctions.endpoint,
      region: REGION,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
  });

  afterAll(async () => {
    client.destroy();
    await stepFunctions.stop();
  });

  it.each([
    ['Extract', 'KeyServiceRefusedError'],
    ['Transform', 'KeyServiceRefusedError'],
    ['Load', 'DatabaseError'],
  ])(
    'reports the Fail state error IngestRunFailed and its cause after %s fails (%s)',
    async (state, name) => {
      // Prepare
      const runId = randomUUID();
      failures.set(runId, { state, name });

      // Act
      const { executionArn } = await client.send(
        new StartExecutionCommand({
          stateMachineArn: stepFunctions.stateMachineArn,
          name: runId,
          input: JSON.stringify({ runId }),
        }),
      );
      const described = await finished(executionArn!);

      // Assess
      expect(described.status).toBe('FAILED');
      expect(described.error).toBe('IngestRunFailed');
      expect(described.cause).toBe(
        'The run failed; its error code is on the run (GET /api/v1/runs/{runId}).',
      );
    },
  );

  it('agrees with its own history on the error and cause', async () => {
    // Prepare
    const runId = randomUUID();
    failures.set(runId, { state: 'Validate', name: 'KeyServiceRefusedError' });
    const { executionArn } = await client.send(
      new StartExecutionCommand({
        stateMachineArn: stepFunctions.stateMachineArn,
        name: runId,
        input: JSON.stringify({ runId }),
      }),
    );
    const described = await finished(executionArn!);

    // Act
    const { events } = await client.send(new GetExecutionHistoryCommand({ executionArn }));

    // Assess
    const failed = events?.at(-1)?.executionFailedEventDetails;
    expect(failed?.error).toBe('IngestRunFailed');
    expect({ error: described.error, cause: described.cause }).toStrictEqual({
      error: failed?.error,
      cause: failed?.cause,
    });
  });
});
