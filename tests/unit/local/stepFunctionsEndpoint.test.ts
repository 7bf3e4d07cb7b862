import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  DescribeStateMachineCommand,
  DescribeStateMachineForExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  type ExecutionStatus,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  InvalidArn,
  ListExecutionsCommand,
  ListStateMachinesCommand,
  paginateGetExecutionHistory,
  SFNClient,
  StartExecutionCommand,
  StateMachineDoesNotExist,
  StopExecutionCommand,
  ValidationException,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../local/embeddedPostgres.ts';
import { loadIngestDefinition } from '../../../local/ingestDefinition.ts';
import {
  type RunningStepFunctions,
  startLocalStepFunctions,
} from '../../../local/stepFunctionsEndpoint.ts';
import { rejectionOf } from '../../helpers/thrown.ts';

const REGION = 'us-east-1';
const STAGES = ['Extract', 'Validate', 'ConsentCheck', 'Transform', 'Load'] as const;
const HAPPY_PATH = [...STAGES, 'Publish'];
const OTHER_MACHINE = `arn:aws:states:${REGION}:000000000000:stateMachine:no-such-machine`;

/** An error as a stage Lambda reports it: the name is what the ASL's Retry and Catch match. */
function stageError(name: string): Error {
  return Object.assign(new Error(`${name} in the stage`), { name });
}

type Fault = (state: string, attempt: number) => Error | undefined;

/**
 * The TaskInvoker port as a fake stage fleet: each Task answers `{ runId, counts }` (and a
 * status for MarkFailed and Publish), unless the run's fault says otherwise or it is held.
 */
class FakeStages {
  readonly calls: Array<{ state: string; input: unknown }> = [];
  readonly #faults = new Map<string, Fault>();
  readonly #holds = new Map<string, Promise<void>>();

  fail(runId: string, fault: Fault): void {
    this.#faults.set(runId, fault);
  }

  /** Keeps the run's Extract from returning until the returned function is called. */
  hold(runId: string): () => void {
    let release = () => {};
    this.#holds.set(
      runId,
      new Promise<void>((resolve) => {
        release = resolve;
      }),
    );
    return () => release();
  }

  callsOf(runId: string): Array<{ state: string; input: unknown }> {
    return this.calls.filter((call) => (call.input as { runId?: unknown } | null)?.runId === runId);
  }

  readonly invokeTask = async (state: string, input: unknown): Promise<unknown> => {
    this.calls.push({ state, input });
    const { runId, counts, status } = input as {
      runId: string;
      counts?: Record<string, number>;
      status?: string;
    };
    if (state === 'Extract') await this.#holds.get(runId);
    const attempt = this.callsOf(runId).filter((call) => call.state === state).length;
    const error = this.#faults.get(runId)?.(state, attempt);
    if (error !== undefined) throw error;
    const next = { ...counts, [state]: attempt };
    if (state === 'MarkFailed') return { runId, counts: next, status: 'failed' };
    if (state === 'Publish') return { runId, counts: next, status: status ?? 'succeeded' };
    return { runId, counts: next };
  };
}

function sfnClient(endpoint: string): SFNClient {
  return new SFNClient({
    endpoint,
    region: REGION,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
}

describe('the local Step Functions endpoint, through @aws-sdk/client-sfn', () => {
  const stages = new FakeStages();
  let stepFunctions: RunningStepFunctions;
  let client: SFNClient;

  async function start(runId: string, input = JSON.stringify({ runId })): Promise<string> {
    const started = await client.send(
      new StartExecutionCommand({
        stateMachineArn: stepFunctions.stateMachineArn,
        name: runId,
        input,
      }),
    );
    expect(started.startDate).toBeInstanceOf(Date);
    return started.executionArn!;
  }

  async function finished(executionArn: string): Promise<DescribeExecutionCommandOutput> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const described = await client.send(new DescribeExecutionCommand({ executionArn }));
      if (described.status !== 'RUNNING') return described;
      if (Date.now() > deadline) throw new Error(`${executionArn} still RUNNING`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async function history(
    executionArn: string,
    includeExecutionData?: boolean,
  ): Promise<HistoryEvent[]> {
    const answer = await client.send(
      new GetExecutionHistoryCommand({
        executionArn,
        ...(includeExecutionData === undefined ? {} : { includeExecutionData }),
      }),
    );
    expect(answer.nextToken).toBeUndefined();
    return answer.events ?? [];
  }

  function taskStates(events: readonly HistoryEvent[], type: string): string[] {
    return events
      .filter((event) => event.type === type)
      .map((event) => event.stateEnteredEventDetails?.name ?? event.stateExitedEventDetails?.name)
      .filter((name) => name !== undefined);
  }

  beforeAll(async () => {
    stepFunctions = await startLocalStepFunctions({
      definition: loadIngestDefinition(),
      stateMachineName: 'test-ingest',
      region: REGION,
      invokeTask: stages.invokeTask,
    });
    client = sfnClient(stepFunctions.endpoint);
  });

  afterAll(async () => {
    client.destroy();
    await stepFunctions.stop();
  });

  it('names the state machine in the region and an account', () => {
    // Assess
    expect(stepFunctions.stateMachineArn).toBe(
      `arn:aws:states:${REGION}:000000000000:stateMachine:test-ingest`,
    );
    expect(stepFunctions.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('runs an execution through Extract..Publish to SUCCEEDED, passing { runId, counts } only', async () => {
    // Prepare
    const runId = randomUUID();

    // Act
    const executionArn = await start(runId);
    const described = await finished(executionArn);

    // Assess
    expect(executionArn).toBe(
      `arn:aws:states:${REGION}:000000000000:execution:test-ingest:${runId}`,
    );
    expect(described).toMatchObject({
      executionArn,
      stateMachineArn: stepFunctions.stateMachineArn,
      name: runId,
      status: 'SUCCEEDED',
      input: JSON.stringify({ runId }),
    });
    expect(described.startDate).toBeInstanceOf(Date);
    expect(described.stopDate).toBeInstanceOf(Date);
    expect(described.stopDate!.getTime()).toBeGreaterThanOrEqual(described.startDate!.getTime());
    expect(described.error).toBeUndefined();
    const counts = Object.fromEntries(HAPPY_PATH.map((state) => [state, 1]));
    expect(JSON.parse(described.output!)).toStrictEqual({ runId, counts, status: 'succeeded' });
    const calls = stages.callsOf(runId);
    expect(calls.map((call) => call.state)).toEqual(HAPPY_PATH);
    expect(calls[0]!.input).toStrictEqual({ runId });
    for (const call of calls.slice(1)) {
      expect(Object.keys(call.input as object).sort()).toEqual(['counts', 'runId']);
    }
  });

  it('lists executions, filtered by status', async () => {
    // Prepare
    const doneId = randomUUID();
    const heldId = randomUUID();
    const release = stages.hold(heldId);
    const doneArn = await start(doneId);
    await finished(doneArn);
    const heldArn = await start(heldId);
    const list = async (statusFilter?: ExecutionStatus) =>
      (
        await client.send(
          new ListExecutionsCommand({
            stateMachineArn: stepFunctions.stateMachineArn,
            ...(statusFilter === undefined ? {} : { statusFilter }),
          }),
        )
      ).executions?.map((execution) => execution.executionArn) ?? [];

    try {
      // Act
      const all = await list();
      const running = await list('RUNNING');
      const succeeded = await list('SUCCEEDED');
      const failed = await list('FAILED');

      // Assess
      expect(all).toEqual(expect.arrayContaining([doneArn, heldArn]));
      expect(running).toContain(heldArn);
      expect(running).not.toContain(doneArn);
      expect(succeeded).toContain(doneArn);
      expect(succeeded).not.toContain(heldArn);
      expect(failed).not.toContain(doneArn);
      expect(failed).not.toContain(heldArn);
    } finally {
      release();
    }
    expect((await finished(heldArn)).status).toBe('SUCCEEDED');
    const listed = await client.send(
      new ListExecutionsCommand({ stateMachineArn: stepFunctions.stateMachineArn }),
    );
    expect(listed.executions?.find((item) => item.executionArn === heldArn)).toMatchObject({
      name: heldId,
      status: 'SUCCEEDED',
      stateMachineArn: stepFunctions.stateMachineArn,
      startDate: expect.any(Date),
      stopDate: expect.any(Date),
    });
  });

  it('pages ListExecutions with maxResults and nextToken', async () => {
    // Prepare
    const arns = [];
    for (let index = 0; index < 3; index += 1) arns.push(await start(randomUUID()));
    await Promise.all(arns.map((arn) => finished(arn)));
    const seen: string[] = [];
    let nextToken: string | undefined;

    // Act
    do {
      const page = await client.send(
        new ListExecutionsCommand({
          stateMachineArn: stepFunctions.stateMachineArn,
          maxResults: 2,
          ...(nextToken === undefined ? {} : { nextToken }),
        }),
      );
      expect(page.executions?.length).toBeLessThanOrEqual(2);
      seen.push(...(page.executions ?? []).map((execution) => execution.executionArn!));
      nextToken = page.nextToken;
    } while (nextToken !== undefined);

    // Assess
    expect(seen).toEqual(expect.arrayContaining(arns));
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('records the history of a run: started, each Task entered and exited in order, succeeded', async () => {
    // Prepare
    const runId = randomUUID();
    const executionArn = await start(runId);
    const described = await finished(executionArn);

    // Act
    const events = await history(executionArn);

    // Assess
    expect(events[0]).toMatchObject({
      id: 1,
      type: 'ExecutionStarted',
      executionStartedEventDetails: { input: JSON.stringify({ runId }) },
    });
    expect(events.at(-1)).toMatchObject({
      type: 'ExecutionSucceeded',
      executionSucceededEventDetails: { output: described.output },
    });
    expect(events.map((event) => event.id)).toEqual(events.map((_, index) => index + 1));
    for (const event of events) {
      expect(event.previousEventId).toBe(event.id! - 1);
      expect(event.timestamp).toBeInstanceOf(Date);
    }
    expect(taskStates(events, 'TaskStateEntered')).toEqual(HAPPY_PATH);
    expect(taskStates(events, 'TaskStateExited')).toEqual(HAPPY_PATH);
    const order = events.map((event) =>
      [event.type, event.stateEnteredEventDetails?.name ?? event.stateExitedEventDetails?.name]
        .filter((part) => part !== undefined)
        .join(' '),
    );
    expect(order).toEqual([
      'ExecutionStarted',
      ...HAPPY_PATH.flatMap((state) => [`TaskStateEntered ${state}`, `TaskStateExited ${state}`]),
      'ChoiceStateEntered RunOutcome',
      'ChoiceStateExited RunOutcome',
      'SucceedStateEntered RunSucceeded',
      'SucceedStateExited RunSucceeded',
      'ExecutionSucceeded',
    ]);
    const loadEntered = events.find(
      (event) =>
        event.type === 'TaskStateEntered' && event.stateEnteredEventDetails?.name === 'Load',
    );
    expect(JSON.parse(loadEntered!.stateEnteredEventDetails!.input!)).toStrictEqual({
      runId,
      counts: { Extract: 1, Validate: 1, ConsentCheck: 1, Transform: 1 },
    });
  });

  it('leaves every input and output out of the history when includeExecutionData is false', async () => {
    // Prepare
    const runId = randomUUID();
    const executionArn = await start(runId);
    await finished(executionArn);

    // Act
    const events = await history(executionArn, false);

    // Assess
    expect(events.length).toBe((await history(executionArn)).length);
    for (const event of events) {
      expect(event.executionStartedEventDetails?.input).toBeUndefined();
      expect(event.executionSucceededEventDetails?.output).toBeUndefined();
      expect(event.stateEnteredEventDetails?.input).toBeUndefined();
      expect(event.stateExitedEventDetails?.output).toBeUndefined();
    }
    expect(JSON.stringify(events)).not.toContain(runId);
    expect(JSON.stringify(events)).not.toContain('counts');
  });

  it('pages the history with the SDK paginator, in reverse order on request', async () => {
    // Prepare
    const executionArn = await start(randomUUID());
    await finished(executionArn);
    const whole = await history(executionArn);

    // Act
    const paged: HistoryEvent[] = [];
    for await (const page of paginateGetExecutionHistory(
      { client, pageSize: 4 },
      { executionArn },
    )) {
      expect(page.events?.length).toBeLessThanOrEqual(4);
      paged.push(...(page.events ?? []));
    }
    const reversed = await client.send(
      new GetExecutionHistoryCommand({ executionArn, reverseOrder: true }),
    );

    // Assess
    expect(paged).toEqual(whole);
    expect(reversed.events).toEqual([...whole].reverse());
  });

  it.each([
    ['a negative nextToken', 'InvalidToken', { nextToken: '-2' }],
    ['a nextToken it never gave', 'InvalidToken', { nextToken: 'page-2' }],
    ['maxResults over 1000', 'ValidationException', { maxResults: 1001 }],
    ['a negative maxResults', 'ValidationException', { maxResults: -1 }],
  ] as const)('refuses %s in GetExecutionHistory and ListExecutions: %s', async (_, name, page) => {
    // Prepare
    const executionArn = await start(randomUUID());
    await finished(executionArn);

    // Act
    const refusals = await Promise.all([
      rejectionOf(client.send(new GetExecutionHistoryCommand({ executionArn, ...page }))),
      rejectionOf(
        client.send(
          new ListExecutionsCommand({ stateMachineArn: stepFunctions.stateMachineArn, ...page }),
        ),
      ),
    ]);

    // Assess
    for (const refusal of refusals) {
      expect(refusal).toMatchObject({ name, $metadata: { httpStatusCode: 400 } });
    }
  });

  it('reads maxResults 0 as the default page size', async () => {
    // Prepare
    const executionArn = await start(randomUUID());
    await finished(executionArn);

    // Act
    const page = await client.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 0 }));

    // Assess
    expect(page.events).toEqual(await history(executionArn));
  });

  it('retries a Task that failed with a retryable error, and succeeds', async () => {
    // Prepare
    const runId = randomUUID();
    stages.fail(runId, (state, attempt) =>
      state === 'Validate' && attempt === 1 ? stageError('TransientDatabaseError') : undefined,
    );

    // Act: one retry, after up to IntervalSeconds (2 s, full jitter)
    const described = await finished(await start(runId));

    // Assess
    expect(described.status).toBe('SUCCEEDED');
    expect(stages.callsOf(runId).map((call) => call.state)).toEqual([
      'Extract',
      'Validate',
      'Validate',
      'ConsentCheck',
      'Transform',
      'Load',
      'Publish',
    ]);
    const events = await history(described.executionArn!);
    expect(
      events.some(
        (event) =>
          event.type === 'TaskFailed' &&
          event.taskFailedEventDetails?.error === 'TransientDatabaseError',
      ),
    ).toBe(true);
    expect(events.at(-1)?.type).toBe('ExecutionSucceeded');
  }, 20_000);

  it.each([
    ['Extract', 'KeyServiceRefusedError'],
    ['Transform', 'KeyServiceRefusedError'],
    ['Load', 'DatabaseError'],
    ['Validate', 'States.TaskFailed'],
  ])(
    'catches a non-retryable failure of %s (%s): MarkFailed, Publish, then the RunFailed state',
    async (failing, name) => {
      // Prepare
      const runId = randomUUID();
      stages.fail(runId, (state) => (state === failing ? stageError(name) : undefined));

      // Act
      const described = await finished(await start(runId));

      // Assess
      expect(described.status).toBe('FAILED');
      expect(described.output).toBeUndefined();
      expect(described.stopDate).toBeInstanceOf(Date);
      const reached = STAGES.slice(0, STAGES.indexOf(failing as (typeof STAGES)[number]) + 1);
      const calls = stages.callsOf(runId);
      expect(calls.map((call) => call.state)).toEqual([...reached, 'MarkFailed', 'Publish']);
      expect(calls.find((call) => call.state === 'MarkFailed')?.input).toMatchObject({
        runId,
        error: { Error: name },
      });
      const events = await history(described.executionArn!);
      expect(events.at(-1)).toMatchObject({
        type: 'ExecutionFailed',
        executionFailedEventDetails: {
          error: 'IngestRunFailed',
          cause: expect.stringContaining('The run failed'),
        },
      });
      expect(taskStates(events, 'TaskStateEntered')).toEqual([...reached, 'MarkFailed', 'Publish']);
      expect(events.some((event) => event.taskFailedEventDetails?.error === name)).toBe(true);
    },
  );

  it.each([
    ['Extract', 'KeyServiceRefusedError'],
    ['Transform', 'KeyServiceRefusedError'],
    ['Load', 'DatabaseError'],
  ])(
    'describes the execution after %s fails (%s) with the Fail state error IngestRunFailed and its cause',
    async (failing, name) => {
      // Prepare
      const runId = randomUUID();
      stages.fail(runId, (state) => (state === failing ? stageError(name) : undefined));

      // Act
      const described = await finished(await start(runId));

      // Assess
      expect(described.status).toBe('FAILED');
      expect(described.error).toBe('IngestRunFailed');
      expect(described.cause).toBe(
        'The run failed; its error code is on the run (GET /api/v1/runs/{runId}).',
      );
    },
  );

  it('describes a failed execution with the error and cause of its own history', async () => {
    // Prepare
    const runId = randomUUID();
    stages.fail(runId, (state) =>
      state === 'Validate' ? stageError('KeyServiceRefusedError') : undefined,
    );
    const executionArn = await start(runId);
    const described = await finished(executionArn);

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

  it('answers a repeated StartExecution with the same name and input with the same execution', async () => {
    // Prepare
    const runId = randomUUID();
    const first = await start(runId);

    // Act
    const second = await start(runId);

    // Assess
    expect(second).toBe(first);
    await finished(first);
    expect(stages.callsOf(runId).filter((call) => call.state === 'Extract')).toHaveLength(1);
  });

  it('refuses the same name with a different input: ExecutionAlreadyExists', async () => {
    // Prepare
    const runId = randomUUID();
    await finished(await start(runId));

    // Act
    const error = await rejectionOf(start(runId, JSON.stringify({ runId, counts: {} })));

    // Assess
    expect(error).toBeInstanceOf(ExecutionAlreadyExists);
    expect((error as Error).name).toBe('ExecutionAlreadyExists');
  });

  it('refuses an unknown state machine: StateMachineDoesNotExist', async () => {
    // Act
    const error = await rejectionOf(
      client.send(
        new StartExecutionCommand({
          stateMachineArn: `arn:aws:states:${REGION}:000000000000:stateMachine:no-such-machine`,
          name: randomUUID(),
          input: '{}',
        }),
      ),
    );

    // Assess
    expect(error).toBeInstanceOf(StateMachineDoesNotExist);
    expect((error as Error).name).toBe('StateMachineDoesNotExist');
  });

  it.each([
    ['a name with a space', 'run 1', '{}', 'InvalidName'],
    ['a name of 81 characters', 'r'.repeat(81), '{}', 'InvalidName'],
    ['an input that is not JSON', 'run-bad-input', '{"runId":', 'InvalidExecutionInput'],
  ])('refuses %s', async (_, name, input, expected) => {
    // Act
    const error = await rejectionOf(
      client.send(
        new StartExecutionCommand({ stateMachineArn: stepFunctions.stateMachineArn, name, input }),
      ),
    );

    // Assess
    expect((error as Error).name).toBe(expected);
  });

  it.each([
    [
      'DescribeExecution',
      (executionArn: string) => client.send(new DescribeExecutionCommand({ executionArn })),
    ],
    [
      'GetExecutionHistory',
      (executionArn: string) => client.send(new GetExecutionHistoryCommand({ executionArn })),
    ],
  ])('answers %s of an unknown execution with ExecutionDoesNotExist', async (_, send) => {
    // Prepare
    const executionArn = `arn:aws:states:${REGION}:000000000000:execution:test-ingest:${randomUUID()}`;

    // Act
    const error = await rejectionOf(send(executionArn));

    // Assess
    expect(error).toBeInstanceOf(ExecutionDoesNotExist);
    expect((error as Error).name).toBe('ExecutionDoesNotExist');
  });

  it('lists its one state machine, a Standard workflow', async () => {
    // Act
    const { stateMachines, nextToken } = await client.send(new ListStateMachinesCommand({}));

    // Assess
    expect(nextToken).toBeUndefined();
    expect(stateMachines).toStrictEqual([
      {
        stateMachineArn: stepFunctions.stateMachineArn,
        name: 'test-ingest',
        type: 'STANDARD',
        creationDate: expect.any(Date),
      },
    ]);
  });

  it('describes the state machine with the definition it runs', async () => {
    // Act
    const described = await client.send(
      new DescribeStateMachineCommand({ stateMachineArn: stepFunctions.stateMachineArn }),
    );

    // Assess
    const { $metadata, ...fields } = described;
    expect(fields).toStrictEqual({
      stateMachineArn: stepFunctions.stateMachineArn,
      name: 'test-ingest',
      status: 'ACTIVE',
      definition: expect.any(String),
      roleArn: 'arn:aws:iam::000000000000:role/local',
      type: 'STANDARD',
      creationDate: expect.any(Date),
      loggingConfiguration: { level: 'OFF', includeExecutionData: false },
      tracingConfiguration: { enabled: false },
    });
    expect(JSON.parse(described.definition!)).toStrictEqual(loadIngestDefinition());
    const [listed] = (await client.send(new ListStateMachinesCommand({}))).stateMachines ?? [];
    expect(described.creationDate).toEqual(listed?.creationDate);
  });

  it('describes the state machine an execution ran', async () => {
    // Prepare
    const executionArn = await start(randomUUID());
    await finished(executionArn);
    const machine = await client.send(
      new DescribeStateMachineCommand({ stateMachineArn: stepFunctions.stateMachineArn }),
    );

    // Act
    const described = await client.send(
      new DescribeStateMachineForExecutionCommand({ executionArn }),
    );

    // Assess
    const { $metadata, ...fields } = described;
    expect(fields).toStrictEqual({
      stateMachineArn: stepFunctions.stateMachineArn,
      name: 'test-ingest',
      definition: machine.definition,
      roleArn: machine.roleArn,
      updateDate: machine.creationDate,
      loggingConfiguration: machine.loggingConfiguration,
      tracingConfiguration: machine.tracingConfiguration,
    });
  });

  it('stops a running execution: aborted where it was, ABORTED with the error and cause given', async () => {
    // Prepare
    const runId = randomUUID();
    const release = stages.hold(runId);
    const executionArn = await start(runId);

    // Act
    const stopped = await client.send(
      new StopExecutionCommand({ executionArn, error: 'Operator.Stop', cause: 'not needed' }),
    );
    const described = await client.send(new DescribeExecutionCommand({ executionArn }));
    release();
    await new Promise((resolve) => setTimeout(resolve, 50));

    // Assess
    expect(stopped.stopDate).toBeInstanceOf(Date);
    expect(described).toMatchObject({
      status: 'ABORTED',
      error: 'Operator.Stop',
      cause: 'not needed',
      stopDate: stopped.stopDate,
    });
    expect(described.output).toBeUndefined();
    const events = await history(executionArn);
    expect(events.at(-1)).toMatchObject({
      type: 'ExecutionAborted',
      executionAbortedEventDetails: { error: 'Operator.Stop', cause: 'not needed' },
    });
    expect(events.map((event) => event.type)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'ExecutionAborted',
    ]);
    expect(stages.callsOf(runId).map((call) => call.state)).toEqual(['Extract']);
  });

  it('stops a running execution without an error or cause: none told', async () => {
    // Prepare
    const runId = randomUUID();
    const release = stages.hold(runId);
    const executionArn = await start(runId);

    // Act
    await client.send(new StopExecutionCommand({ executionArn }));
    const described = await client.send(new DescribeExecutionCommand({ executionArn }));
    release();

    // Assess
    expect(described.status).toBe('ABORTED');
    expect(described.error).toBeUndefined();
    expect(described.cause).toBeUndefined();
    const aborted = (await history(executionArn)).at(-1);
    expect(aborted?.type).toBe('ExecutionAborted');
    expect(aborted?.executionAbortedEventDetails).toBeUndefined();
  });

  it('leaves an ended execution as it is when asked to stop it', async () => {
    // Prepare
    const executionArn = await start(randomUUID());
    const before = await finished(executionArn);

    // Act
    const stopped = await client.send(
      new StopExecutionCommand({ executionArn, error: 'Too.Late' }),
    );
    const after = await client.send(new DescribeExecutionCommand({ executionArn }));

    // Assess
    expect(stopped.stopDate).toEqual(before.stopDate);
    expect(after).toMatchObject({ status: 'SUCCEEDED', stopDate: before.stopDate });
    expect(after.error).toBeUndefined();
    expect((await history(executionArn)).at(-1)?.type).toBe('ExecutionSucceeded');
  });

  it('refuses an error of more than 256 characters: ValidationException', async () => {
    // Prepare
    const runId = randomUUID();
    const release = stages.hold(runId);
    const executionArn = await start(runId);

    // Act
    const error = await rejectionOf(
      client.send(new StopExecutionCommand({ executionArn, error: 'e'.repeat(257) })),
    );
    const described = await client.send(new DescribeExecutionCommand({ executionArn }));
    release();

    // Assess
    expect(error).toBeInstanceOf(ValidationException);
    expect(described.status).toBe('RUNNING');
    expect((await finished(executionArn)).status).toBe('SUCCEEDED');
  });

  it.each([
    [
      'ListExecutions',
      () => client.send(new ListExecutionsCommand({ stateMachineArn: OTHER_MACHINE })),
    ],
    [
      'DescribeStateMachine',
      () => client.send(new DescribeStateMachineCommand({ stateMachineArn: OTHER_MACHINE })),
    ],
  ])('answers %s of another state machine with StateMachineDoesNotExist', async (_, send) => {
    // Act
    const error = await rejectionOf(send());

    // Assess
    expect(error).toBeInstanceOf(StateMachineDoesNotExist);
    expect((error as Error).message).toBe(`State Machine Does Not Exist: '${OTHER_MACHINE}'`);
  });

  it.each([
    [
      'DescribeStateMachineForExecution',
      (executionArn: string) =>
        client.send(new DescribeStateMachineForExecutionCommand({ executionArn })),
    ],
    [
      'StopExecution',
      (executionArn: string) => client.send(new StopExecutionCommand({ executionArn })),
    ],
  ])('answers %s of an unknown execution with ExecutionDoesNotExist', async (_, send) => {
    // Prepare
    const executionArn = `arn:aws:states:${REGION}:000000000000:execution:test-ingest:${randomUUID()}`;

    // Act
    const error = await rejectionOf(send(executionArn));

    // Assess
    expect(error).toBeInstanceOf(ExecutionDoesNotExist);
    expect((error as Error).message).toBe(`Execution Does Not Exist: '${executionArn}'`);
  });

  it.each([
    [
      'DescribeExecution with a state machine ARN',
      () =>
        client.send(new DescribeExecutionCommand({ executionArn: stepFunctions.stateMachineArn })),
    ],
    [
      'GetExecutionHistory with a word',
      () => client.send(new GetExecutionHistoryCommand({ executionArn: 'run-1' })),
    ],
    [
      'StopExecution with an ARN of another service',
      () =>
        client.send(
          new StopExecutionCommand({
            executionArn: 'arn:aws:lambda:us-east-1:000000000000:function:f',
          }),
        ),
    ],
    [
      'DescribeStateMachineForExecution without an execution name',
      () =>
        client.send(
          new DescribeStateMachineForExecutionCommand({
            executionArn: `arn:aws:states:${REGION}:000000000000:execution:test-ingest`,
          }),
        ),
    ],
    [
      'DescribeStateMachine with an execution ARN',
      () =>
        client.send(
          new DescribeStateMachineCommand({
            stateMachineArn: `arn:aws:states:${REGION}:000000000000:execution:test-ingest:run-1`,
          }),
        ),
    ],
    [
      'StartExecution with a word',
      () =>
        client.send(new StartExecutionCommand({ stateMachineArn: 'ingest', name: randomUUID() })),
    ],
    [
      'ListExecutions with a word',
      () => client.send(new ListExecutionsCommand({ stateMachineArn: 'ingest' })),
    ],
  ])('refuses %s: InvalidArn', async (_, send) => {
    // Act
    const error = await rejectionOf(send());

    // Assess
    expect(error).toBeInstanceOf(InvalidArn);
    expect((error as Error).name).toBe('InvalidArn');
  });
});

describe('the port of the local Step Functions endpoint', () => {
  it('is the one given', async () => {
    // Prepare
    const port = await freePort();

    // Act
    const stepFunctions = await startLocalStepFunctions({
      definition: loadIngestDefinition(),
      stateMachineName: 'test-ingest-port',
      region: REGION,
      invokeTask: new FakeStages().invokeTask,
      port,
    });
    const client = sfnClient(`http://127.0.0.1:${port}`);
    const listed = await client.send(new ListStateMachinesCommand({})).finally(async () => {
      client.destroy();
      await stepFunctions.stop();
    });

    // Assess
    expect(stepFunctions.endpoint).toBe(`http://127.0.0.1:${port}`);
    expect(stepFunctions.port).toBe(port);
    expect(listed.stateMachines?.[0]?.name).toBe('test-ingest-port');
  });

  it('refuses to start on a busy port, with the error of the listen (EADDRINUSE)', async () => {
    // Prepare
    const port = await freePort();
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));

    // Act
    const error = await rejectionOf(
      startLocalStepFunctions({
        definition: loadIngestDefinition(),
        stateMachineName: 'test-ingest-busy',
        region: REGION,
        invokeTask: new FakeStages().invokeTask,
        port,
      }),
    );
    await new Promise<void>((resolve) => holder.close(() => resolve()));

    // Assess
    expect(error).toMatchObject({ code: 'EADDRINUSE' });
  });
});

describe('stopping the local Step Functions endpoint', () => {
  it('aborts a running execution and closes the server', async () => {
    // Prepare
    const stages = new FakeStages();
    const stepFunctions = await startLocalStepFunctions({
      definition: loadIngestDefinition(),
      stateMachineName: 'test-ingest-stop',
      region: REGION,
      invokeTask: stages.invokeTask,
    });
    const client = sfnClient(stepFunctions.endpoint);
    const runId = randomUUID();
    const release = stages.hold(runId);
    const { executionArn } = await client.send(
      new StartExecutionCommand({
        stateMachineArn: stepFunctions.stateMachineArn,
        name: runId,
        input: JSON.stringify({ runId }),
      }),
    );
    const before = await client.send(new DescribeExecutionCommand({ executionArn }));

    try {
      // Act
      await stepFunctions.stop();

      // Assess
      expect(before.status).toBe('RUNNING');
      const error = await rejectionOf(client.send(new DescribeExecutionCommand({ executionArn })));
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(ExecutionDoesNotExist);
      expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).toMatch(
        /ECONNREFUSED|ECONNRESET|socket hang up/,
      );
    } finally {
      release();
      client.destroy();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stages.callsOf(runId).map((call) => call.state)).toEqual(['Extract']);
  });
});
