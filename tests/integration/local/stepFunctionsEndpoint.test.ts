import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import {
  DescribeExecutionCommand,
  DescribeStateMachineCommand,
  DescribeStateMachineForExecutionCommand,
  ExecutionAlreadyExists,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../../local/embeddedPostgres.ts';
import { ExecutionStore } from '../../../local/executionStore.ts';
import { loadIngestDefinition } from '../../../local/ingestDefinition.ts';
import type { TaskInvoker } from '../../../local/localStateMachine.ts';
import {
  type RunningStepFunctions,
  startLocalStepFunctions,
} from '../../../local/stepFunctionsEndpoint.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { rejectionOf } from '../../helpers/thrown.ts';

const REGION = 'us-east-1';
const TASKS = ['Extract', 'Validate', 'ConsentCheck', 'Transform', 'Load', 'Publish'];
/** Every state a succeeding execution enters, in order. */
const HAPPY_PATH = [...TASKS, 'RunOutcome', 'RunSucceeded'];

/** Stage Lambdas that answer at once, except where a state is held until released. */
class Stages {
  readonly calls: string[] = [];
  #held: { state: string; reached: () => void; release: Promise<void> } | undefined;

  /** The next invocation of `state` waits for the returned release; `reached` resolves when it starts. */
  hold(state: string): { reached: Promise<void>; release: () => void } {
    let release = () => {};
    let reached = () => {};
    const reachedPromise = new Promise<void>((resolve) => {
      reached = resolve;
    });
    this.#held = {
      state,
      reached,
      release: new Promise<void>((resolve) => {
        release = resolve;
      }),
    };
    return { reached: reachedPromise, release };
  }

  readonly invoke: TaskInvoker = async (state, input) => {
    this.calls.push(state);
    const held = this.#held;
    if (held?.state === state) {
      this.#held = undefined;
      held.reached();
      await held.release;
    }
    const { runId } = input as { runId: string };
    return state === 'Publish' || state === 'MarkFailed'
      ? { runId, counts: {}, status: 'succeeded' }
      : { runId, counts: { received: 1 } };
  };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the local Step Functions endpoint with a store in PostgreSQL', () => {
  const database = useTestDatabase();
  const running: RunningStepFunctions[] = [];

  afterEach(async () => {
    for (const endpoint of running.splice(0)) await endpoint.stop();
  });

  async function start(stages: Stages, name = 'ingest', port?: number, store?: ExecutionStore) {
    const endpoint = await startLocalStepFunctions({
      definition: loadIngestDefinition(),
      stateMachineName: name,
      region: REGION,
      invokeTask: stages.invoke,
      store: store ?? (await ExecutionStore.open(database.url)),
      ...(port === undefined ? {} : { port }),
    });
    running.push(endpoint);
    const client = new SFNClient({
      endpoint: endpoint.endpoint,
      region: REGION,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
    return { endpoint, client };
  }

  /** Starts an execution named by a fresh run id, as intake names them. */
  async function startRun(running: {
    readonly endpoint: RunningStepFunctions;
    readonly client: SFNClient;
  }): Promise<{ runId: string; executionArn: string }> {
    const runId = randomUUID();
    const { executionArn } = await running.client.send(
      new StartExecutionCommand({
        stateMachineArn: running.endpoint.stateMachineArn,
        name: runId,
        input: JSON.stringify({ runId }),
      }),
    );
    return { runId, executionArn: executionArn as string };
  }

  async function stopped(endpoint: RunningStepFunctions): Promise<void> {
    running.splice(running.indexOf(endpoint), 1);
    await endpoint.stop();
  }

  it('answers for executions of a process that stopped, and keeps names unique across it', async () => {
    // Prepare
    const first = await start(new Stages());
    const runId = randomUUID();
    const input = JSON.stringify({ runId });
    const { executionArn } = await first.client.send(
      new StartExecutionCommand({
        stateMachineArn: first.endpoint.stateMachineArn,
        name: runId,
        input,
      }),
    );
    await until('the execution to succeed', async () => {
      const { status } = await first.client.send(new DescribeExecutionCommand({ executionArn }));
      return status === 'SUCCEEDED' ? status : undefined;
    });
    await stopped(first.endpoint);

    // Act
    const second = await start(new Stages());
    const described = await second.client.send(new DescribeExecutionCommand({ executionArn }));
    const history = await second.client.send(new GetExecutionHistoryCommand({ executionArn }));
    const listed = await second.client.send(
      new ListExecutionsCommand({
        stateMachineArn: second.endpoint.stateMachineArn,
        statusFilter: 'SUCCEEDED',
      }),
    );
    const again = await second.client.send(
      new StartExecutionCommand({
        stateMachineArn: second.endpoint.stateMachineArn,
        name: runId,
        input,
      }),
    );
    const otherInput = second.client.send(
      new StartExecutionCommand({
        stateMachineArn: second.endpoint.stateMachineArn,
        name: runId,
        input: JSON.stringify({ runId: randomUUID() }),
      }),
    );

    // Assess
    expect(described.status).toBe('SUCCEEDED');
    expect(described.input).toBe(input);
    expect(JSON.parse(described.output ?? 'null')).toMatchObject({ runId });
    const entered = (history.events ?? []).flatMap((event) =>
      event.stateEnteredEventDetails?.name === undefined
        ? []
        : [event.stateEnteredEventDetails.name],
    );
    expect(entered).toEqual(HAPPY_PATH);
    expect(history.events?.at(-1)?.type).toBe('ExecutionSucceeded');
    expect(listed.executions?.map((execution) => execution.executionArn)).toContain(executionArn);
    expect(again.executionArn).toBe(executionArn);
    await expect(otherInput).rejects.toBeInstanceOf(ExecutionAlreadyExists);
  });

  it('resumes an execution its stopped process left running, keeping its history', async () => {
    // Prepare: the first process stops while ConsentCheck runs.
    const firstStages = new Stages();
    const held = firstStages.hold('ConsentCheck');
    const first = await start(firstStages, 'resumed');
    const { executionArn } = await startRun(first);
    await held.reached;
    await stopped(first.endpoint);
    held.release();

    // Act
    const secondStages = new Stages();
    const second = await start(secondStages, 'resumed');
    const before = await second.client.send(new DescribeExecutionCommand({ executionArn }));
    const resumed = await second.endpoint.resumeInterrupted();
    const after = await until('the resumed execution to succeed', async () => {
      const described = await second.client.send(new DescribeExecutionCommand({ executionArn }));
      return described.status === 'SUCCEEDED' ? described : undefined;
    });
    const history = await second.client.send(new GetExecutionHistoryCommand({ executionArn }));

    // Assess
    expect(before.status).toBe('RUNNING');
    expect(resumed).toBe(1);
    expect(after.redriveCount).toBe(1);
    expect(secondStages.calls).toEqual(TASKS);
    const types = (history.events ?? []).map((event) => event.type);
    expect(types.filter((type) => type === 'ExecutionStarted')).toHaveLength(1);
    expect(types).toContain('ExecutionRedriven');
    // What the first process recorded comes first: Extract and Validate ran before the stop.
    const redriven = types.indexOf('ExecutionRedriven');
    const enteredBefore = (history.events ?? [])
      .slice(0, redriven)
      .flatMap((event) => event.stateEnteredEventDetails?.name ?? []);
    expect(enteredBefore).toEqual(['Extract', 'Validate', 'ConsentCheck']);
    expect(types.at(-1)).toBe('ExecutionSucceeded');
    expect(await second.endpoint.resumeInterrupted()).toBe(0);
  });

  it('records every event and the end although the database drops its connections meanwhile', async () => {
    // Prepare
    const stages = new Stages();
    const held = stages.hold('Transform');
    const { endpoint, client } = await start(stages, 'faults');
    const { executionArn } = await startRun({ endpoint, client });
    await held.reached;
    const killer = new pg.Client({ connectionString: database.url });
    await killer.connect();
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);

    // Act: every other connection to the database ends, while the execution goes on.
    const { rowCount } = await killer.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    held.release();
    await until('the execution to succeed', async () => {
      const { status } = await client.send(new DescribeExecutionCommand({ executionArn }));
      return status === 'SUCCEEDED' ? status : undefined;
    });
    await stopped(endpoint);
    const { rows } = await killer.query<{ status: string; events: number }>(
      `SELECT status, (SELECT count(*)::int FROM local_stepfunctions.execution_events e
                       WHERE e.execution_arn = x.execution_arn) AS events
       FROM local_stepfunctions.executions x WHERE execution_arn = $1`,
      [executionArn],
    );
    await killer.end();
    process.off('uncaughtException', onUncaught);

    // Assess
    expect(rowCount).toBeGreaterThan(0);
    expect(uncaught).toEqual([]);
    expect(rows[0]?.status).toBe('SUCCEEDED');
    // ExecutionStarted, entered and exited for each state, ExecutionSucceeded.
    expect(rows[0]?.events).toBe(2 + 2 * HAPPY_PATH.length);
  });

  it('refuses a second endpoint running the same state machine on the same database', async () => {
    // Prepare
    const { endpoint } = await start(new Stages(), 'owned');

    // Act
    const second = startLocalStepFunctions({
      definition: loadIngestDefinition(),
      stateMachineName: 'owned',
      region: REGION,
      invokeTask: new Stages().invoke,
      store: await ExecutionStore.open(database.url),
    });

    // Assess
    await expect(second).rejects.toThrow(
      'another local Step Functions endpoint runs owned on this database',
    );
    await stopped(endpoint);
    const third = await start(new Stages(), 'owned');
    expect(third.endpoint.stateMachineArn).toBe(endpoint.stateMachineArn);
  });

  it('runs an execution whose start was stored but not answered, when the caller retries it', async () => {
    // Prepare: the row committed, the answer lost, nothing running it.
    const stages = new Stages();
    const { endpoint, client } = await start(stages, 'unanswered');
    const runId = randomUUID();
    const input = JSON.stringify({ runId });
    const executionArn = `${endpoint.stateMachineArn.replace(':stateMachine:', ':execution:')}:${runId}`;
    const writer = await ExecutionStore.open(database.url);
    await writer.insert({
      executionArn,
      stateMachineArn: endpoint.stateMachineArn,
      name: runId,
      input,
      status: 'RUNNING',
      startDate: Date.now(),
      stopDate: undefined,
      output: undefined,
      error: undefined,
      cause: undefined,
      resumes: 0,
    });
    await writer.close();

    // Act
    const retried = await client.send(
      new StartExecutionCommand({ stateMachineArn: endpoint.stateMachineArn, name: runId, input }),
    );
    const ended = await until('the execution to succeed', async () => {
      const described = await client.send(new DescribeExecutionCommand({ executionArn }));
      return described.status === 'SUCCEEDED' ? described : undefined;
    });

    // Assess
    expect(retried.executionArn).toBe(executionArn);
    expect(ended.redriveCount).toBeUndefined();
    expect(stages.calls).toEqual(TASKS);
  });
  it('stops a running execution for good: ABORTED in the store with its history, not resumed by the next start', async () => {
    // Prepare
    const firstStages = new Stages();
    const held = firstStages.hold('Validate');
    const first = await start(firstStages, 'stopped');
    const { executionArn } = await startRun(first);
    await held.reached;

    // Act
    const { stopDate } = await first.client.send(
      new StopExecutionCommand({ executionArn, error: 'Operator.Stop', cause: 'stopped by hand' }),
    );
    held.release();
    await stopped(first.endpoint);
    const secondStages = new Stages();
    const second = await start(secondStages, 'stopped');
    const resumed = await second.endpoint.resumeInterrupted();
    const described = await second.client.send(new DescribeExecutionCommand({ executionArn }));
    const history = await second.client.send(new GetExecutionHistoryCommand({ executionArn }));
    const listed = await second.client.send(
      new ListExecutionsCommand({
        stateMachineArn: second.endpoint.stateMachineArn,
        statusFilter: 'ABORTED',
      }),
    );

    // Assess
    expect(resumed).toBe(0);
    expect(secondStages.calls).toEqual([]);
    expect(firstStages.calls).toEqual(['Extract', 'Validate']);
    expect(described).toMatchObject({
      status: 'ABORTED',
      stopDate,
      error: 'Operator.Stop',
      cause: 'stopped by hand',
    });
    expect(history.events?.map((event) => event.type)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'TaskStateExited',
      'TaskStateEntered',
      'ExecutionAborted',
    ]);
    expect(history.events?.at(-1)?.executionAbortedEventDetails).toStrictEqual({
      error: 'Operator.Stop',
      cause: 'stopped by hand',
    });
    expect(listed.executions?.map((execution) => execution.executionArn)).toEqual([executionArn]);
  });

  it('answers ServiceUnavailable to a StopExecution that arrives while the endpoint stops, leaving the execution to resume', async () => {
    // Prepare: a store write held open keeps stop() from closing the server.
    const store = await ExecutionStore.open(database.url);
    const appendEvents = store.appendEvents.bind(store);
    let openGate = () => {};
    let gate: Promise<void> | undefined;
    store.appendEvents = async (...args) => {
      await gate;
      return appendEvents(...args);
    };
    const firstStages = new Stages();
    const held = firstStages.hold('Extract');
    const first = await start(firstStages, 'stopping', undefined, store);
    const { executionArn } = await startRun(first);
    await held.reached;
    gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    // Another execution, whose history the store now holds back.
    const otherId = randomUUID();
    await first.client.send(
      new StartExecutionCommand({
        stateMachineArn: first.endpoint.stateMachineArn,
        name: otherId,
        input: JSON.stringify({ runId: otherId }),
      }),
    );

    // Act
    const stopping = stopped(first.endpoint);
    const refusal = await rejectionOf(
      first.client.send(new StopExecutionCommand({ executionArn, error: 'Operator.Stop' })),
    );
    openGate();
    held.release();
    await stopping;
    const second = await start(new Stages(), 'stopping');
    const resumed = await second.endpoint.resumeInterrupted();
    const ended = await until('the execution to end', async () => {
      const { status } = await second.client.send(new DescribeExecutionCommand({ executionArn }));
      return status === 'RUNNING' ? undefined : status;
    });

    // Assess: not stopped, as the answer said, so the next start ran it to its end.
    expect(refusal).toMatchObject({
      name: 'ServiceUnavailable',
      $metadata: { httpStatusCode: 503 },
    });
    expect(resumed).toBe(1);
    expect(ended).toBe('SUCCEEDED');
  });

  it('answers InternalFailure to a StopExecution whose end the store refuses', async () => {
    // Prepare
    const store = await ExecutionStore.open(database.url);
    store.end = async () => {
      throw Object.assign(new Error('check constraint refused'), { code: '23514' });
    };
    const stages = new Stages();
    const held = stages.hold('Extract');
    const { endpoint, client } = await start(stages, 'refused', undefined, store);
    const { executionArn } = await startRun({ endpoint, client });
    await held.reached;

    // Act
    const refusal = await rejectionOf(client.send(new StopExecutionCommand({ executionArn })));
    held.release();
    const described = await client.send(new DescribeExecutionCommand({ executionArn }));

    // Assess
    expect(refusal).toMatchObject({ name: 'InternalFailure', $metadata: { httpStatusCode: 500 } });
    expect(described.status).toBe('RUNNING');
  });

  it('stops an execution its stopped process left running, so that no start resumes it', async () => {
    // Prepare: the first process stops while Transform runs.
    const firstStages = new Stages();
    const held = firstStages.hold('Transform');
    const first = await start(firstStages, 'interrupted');
    const { executionArn } = await startRun(first);
    await held.reached;
    await stopped(first.endpoint);
    held.release();
    const secondStages = new Stages();
    const second = await start(secondStages, 'interrupted');

    // Act
    const { stopDate } = await second.client.send(new StopExecutionCommand({ executionArn }));
    const resumed = await second.endpoint.resumeInterrupted();
    const again = await second.client.send(new StopExecutionCommand({ executionArn }));
    const described = await second.client.send(new DescribeExecutionCommand({ executionArn }));
    const history = await second.client.send(new GetExecutionHistoryCommand({ executionArn }));

    // Assess
    expect(resumed).toBe(0);
    expect(secondStages.calls).toEqual([]);
    expect(again.stopDate).toEqual(stopDate);
    expect(described).toMatchObject({ status: 'ABORTED', stopDate });
    expect(described.error).toBeUndefined();
    const types = history.events?.map((event) => event.type) ?? [];
    expect(types.at(-1)).toBe('ExecutionAborted');
    expect(types.filter((type) => type === 'ExecutionAborted')).toHaveLength(1);
    expect(history.events?.flatMap((event) => event.stateEnteredEventDetails?.name ?? [])).toEqual([
      'Extract',
      'Validate',
      'ConsentCheck',
      'Transform',
    ]);
  });

  it('keeps the state machine across restarts: its creation date, and the state machine of an execution from before', async () => {
    // Prepare
    const first = await start(new Stages(), 'described');
    const { executionArn } = await startRun(first);
    const before = await first.client.send(
      new DescribeStateMachineCommand({ stateMachineArn: first.endpoint.stateMachineArn }),
    );
    await until('the execution to succeed', async () => {
      const { status } = await first.client.send(new DescribeExecutionCommand({ executionArn }));
      return status === 'SUCCEEDED' ? status : undefined;
    });
    await stopped(first.endpoint);

    // Act
    const second = await start(new Stages(), 'described');
    const after = await second.client.send(
      new DescribeStateMachineCommand({ stateMachineArn: second.endpoint.stateMachineArn }),
    );
    const forExecution = await second.client.send(
      new DescribeStateMachineForExecutionCommand({ executionArn }),
    );

    // Assess
    expect(after.creationDate).toEqual(before.creationDate);
    expect(after.definition).toBe(before.definition);
    expect(forExecution).toMatchObject({
      stateMachineArn: second.endpoint.stateMachineArn,
      name: 'described',
      definition: before.definition,
      updateDate: before.creationDate,
    });
  });

  it('gives up a busy port with its store closed, so that a start on another port runs the state machine', async () => {
    // Prepare
    const port = await freePort();
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));

    // Act
    const busy = start(new Stages(), 'busy', port);
    const refused = await busy.then(
      () => undefined,
      (error: unknown) => error,
    );
    await new Promise<void>((resolve) => holder.close(() => resolve()));
    const elsewhere = await start(new Stages(), 'busy', await freePort());

    // Assess
    expect(refused).toMatchObject({ code: 'EADDRINUSE' });
    expect(elsewhere.endpoint.stateMachineArn).toBe(
      `arn:aws:states:${REGION}:000000000000:stateMachine:busy`,
    );
  });
});
