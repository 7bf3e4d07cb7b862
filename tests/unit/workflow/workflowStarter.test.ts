import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  ExecutionLimitExceeded,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  InvalidArn,
  SFNClient,
  StartExecutionCommand,
  StateMachineDoesNotExist,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAwsClient } from '../../../lib/aws/clients.ts';
import { ServiceUnavailableError } from '../../../lib/errors.ts';
import { executionEvents, SfnWorkflowStarter } from '../../../lib/workflow/workflowStarter.ts';

const stateMachineArn =
  'arn:aws:states:us-east-1:000000000000:stateMachine:healthcare-etl-test-ingest';
const runId = '3f1c2a9e-8b7d-4c6e-9a5f-0d1e2f3a4b5c';

function sdkError(name: string, message: string, fields: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { name, ...fields });
}

describe('SfnWorkflowStarter', () => {
  const sfnMock = mockClient(SFNClient);
  const starter = new SfnWorkflowStarter({
    client: new SFNClient({ region: 'us-east-1' }),
    stateMachineArn,
  });

  beforeEach(() => {
    sfnMock.reset();
  });

  afterAll(() => {
    sfnMock.restore();
  });

  it('starts one execution named after the run, with only the run id as input', async () => {
    // Prepare
    sfnMock.on(StartExecutionCommand).resolves({
      executionArn: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${runId}`,
      startDate: new Date(),
    });

    // Act
    await starter.start(runId);

    // Assess
    const calls = sfnMock.commandCalls(StartExecutionCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toStrictEqual({
      stateMachineArn,
      name: runId,
      input: `{"runId":"${runId}"}`,
    });
    expect(sfnMock.calls()).toHaveLength(1);
  });

  it('treats an execution that already exists as started (a repeated start runs nothing twice)', async () => {
    // Prepare
    sfnMock
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));

    // Act
    const starting = starter.start(runId);

    // Assess
    await expect(starting).resolves.toBeUndefined();
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(1);
  });

  it.each([
    [
      'StateMachineDoesNotExist',
      new StateMachineDoesNotExist({
        message: `State Machine Does Not Exist: '${stateMachineArn}'`,
        $metadata: { httpStatusCode: 400 },
      }),
    ],
    [
      'ExecutionLimitExceeded',
      new ExecutionLimitExceeded({
        message: 'Maximum number of running executions reached: 1000000',
        $metadata: { httpStatusCode: 400 },
      }),
    ],
    ['InvalidArn', new InvalidArn({ message: `Invalid Arn: '${stateMachineArn}'`, $metadata: {} })],
    [
      'ThrottlingException',
      sdkError('ThrottlingException', 'Rate exceeded for account 123456789012', {
        $metadata: { httpStatusCode: 400 },
      }),
    ],
    [
      'AccessDeniedException',
      sdkError(
        'AccessDeniedException',
        'User: arn:aws:iam::123456789012:role/ingest-api is not authorized to perform: states:StartExecution',
      ),
    ],
    [
      'ECONNREFUSED',
      sdkError('Error', 'connect ECONNREFUSED 10.0.0.7:443', { code: 'ECONNREFUSED' }),
    ],
    ['a plain TypeError', new TypeError('Cannot read properties of undefined (reading "Jane")')],
  ])(
    'answers %s with a ServiceUnavailableError that tells nothing of the cause',
    async (_, failure) => {
      // Prepare
      sfnMock.on(StartExecutionCommand).rejects(failure);

      // Act
      const starting = starter.start(runId);

      // Assess
      await expect(starting).rejects.toBeInstanceOf(ServiceUnavailableError);
      const error = (await starting.catch((thrown: unknown) => thrown)) as ServiceUnavailableError;
      expect(error.statusCode).toBe(503);
      expect(error.expose).toBe(false);
      expect(error.retryable).toBe(true);
      expect(error.cause).toBe(failure);
      expect(error.message).toBe('the workflow service did not start the run');
      for (const detail of [failure.name, failure.message, '123456789012', '10.0.0.7', 'Jane']) {
        if (detail !== '' && detail !== 'Error') expect(error.message).not.toContain(detail);
      }
    },
  );
});

describe('SfnWorkflowStarter over HTTP, with createAwsClient', () => {
  interface Received {
    readonly url: string | undefined;
    readonly headers: IncomingHttpHeaders;
    readonly body: string;
  }
  const received: Received[] = [];
  let answer: { status: number; body: unknown } = { status: 200, body: {} };
  let server: Server;
  let endpoint: string;
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({
          url: request.url,
          headers: request.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        response.writeHead(answer.status, { 'content-type': 'application/x-amz-json-1.0' });
        response.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  beforeEach(() => {
    received.length = 0;
    // Without credentials of its own, the client takes them from the environment, as in Lambda.
    process.env['AWS_ACCESS_KEY_ID'] = 'AKIDLOCALTEST';
    process.env['AWS_SECRET_ACCESS_KEY'] = 'local-secret';
    delete process.env['AWS_SESSION_TOKEN'];
    delete process.env['AWS_PROFILE'];
  });

  afterEach(() => {
    process.env = { ...savedEnv };
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('posts StartExecution to the configured endpoint, signed for the configured region', async () => {
    // Prepare
    answer = {
      status: 200,
      body: { executionArn: `${stateMachineArn}:${runId}`, startDate: 1_764_000_000 },
    };
    const starter = new SfnWorkflowStarter({
      client: createAwsClient(SFNClient, { endpoint, region: 'eu-west-3' }),
      stateMachineArn,
    });

    // Act
    await starter.start(runId);

    // Assess
    expect(received).toHaveLength(1);
    const request = received[0]!;
    expect(request.url).toBe('/');
    expect(request.headers['x-amz-target']).toBe('AWSStepFunctions.StartExecution');
    expect(request.headers['authorization']).toContain('/eu-west-3/states/aws4_request');
    expect(JSON.parse(request.body)).toStrictEqual({
      stateMachineArn,
      name: runId,
      input: `{"runId":"${runId}"}`,
    });
  });

  it('resolves when the service answers ExecutionAlreadyExists', async () => {
    // Prepare
    answer = {
      status: 400,
      body: { __type: 'ExecutionAlreadyExists', message: 'Execution Already Exists' },
    };
    const starter = new SfnWorkflowStarter({
      client: createAwsClient(SFNClient, { endpoint, region: 'us-east-1' }),
      stateMachineArn,
    });

    // Act
    const starting = starter.start(runId);

    // Assess
    await expect(starting).resolves.toBeUndefined();
    expect(received).toHaveLength(1);
  });

  it('answers a service fault with ServiceUnavailableError', async () => {
    // Prepare
    answer = {
      status: 400,
      body: { __type: 'StateMachineDoesNotExist', message: `no ${stateMachineArn}` },
    };
    const starter = new SfnWorkflowStarter({
      client: createAwsClient(SFNClient, { endpoint, region: 'us-east-1' }),
      stateMachineArn,
    });

    // Act
    const starting = starter.start(runId);

    // Assess
    await expect(starting).rejects.toBeInstanceOf(ServiceUnavailableError);
    await expect(starting).rejects.toMatchObject({
      cause: expect.objectContaining({ name: 'StateMachineDoesNotExist' }),
    });
  });
});

describe('executionEvents', () => {
  it('keeps each event’s type, time, state and error name, and never an input, output or cause', () => {
    // Prepare
    const at = new Date('2030-01-01T00:00:00.000Z');
    const history = [
      {
        id: 1,
        type: 'ExecutionStarted',
        timestamp: at,
        executionStartedEventDetails: { input: '{"runId":"r"}' },
      },
      {
        id: 2,
        type: 'TaskStateEntered',
        timestamp: at,
        stateEnteredEventDetails: { name: 'Load', input: '{"mrn":"x"}' },
      },
      {
        id: 3,
        type: 'LambdaFunctionFailed',
        timestamp: at,
        lambdaFunctionFailedEventDetails: {
          error: 'DatabaseError',
          cause: 'patient MRN-1 refused',
        },
      },
      {
        id: 4,
        type: 'TaskStateExited',
        timestamp: at,
        stateExitedEventDetails: { name: 'Load', output: '{"error":{}}' },
      },
      {
        id: 5,
        type: 'ExecutionFailed',
        timestamp: at,
        executionFailedEventDetails: { error: 'States.TaskFailed', cause: 'MRN-1' },
      },
    ] satisfies HistoryEvent[];

    // Act
    const events = executionEvents(history);

    // Assess
    expect(events).toEqual([
      {
        id: 1,
        type: 'ExecutionStarted',
        timestamp: at.toISOString(),
        stateName: null,
        error: null,
      },
      {
        id: 2,
        type: 'TaskStateEntered',
        timestamp: at.toISOString(),
        stateName: 'Load',
        error: null,
      },
      {
        id: 3,
        type: 'LambdaFunctionFailed',
        timestamp: at.toISOString(),
        stateName: 'Load',
        error: 'DatabaseError',
      },
      {
        id: 4,
        type: 'TaskStateExited',
        timestamp: at.toISOString(),
        stateName: 'Load',
        error: null,
      },
      {
        id: 5,
        type: 'ExecutionFailed',
        timestamp: at.toISOString(),
        stateName: null,
        error: 'States.TaskFailed',
      },
    ]);
    expect(JSON.stringify(events)).not.toMatch(/MRN|mrn|runId|refused/);
  });

  it.each([
    ['free text, as StopExecution accepts it', 'Patient MRN-1 asked to stop'],
    ['an empty name', ''],
    ['a name over 64 characters', `E${'x'.repeat(64)}`],
    ['markup', '<img src=x onerror=alert(1)>'],
  ])('names an error given as %s unnamed', (_, error) => {
    // Prepare
    const history = [
      {
        id: 1,
        type: 'ExecutionAborted',
        timestamp: new Date('2030-01-01T00:00:00.000Z'),
        executionAbortedEventDetails: { error, cause: 'stopped' },
      },
    ] satisfies HistoryEvent[];

    // Act
    const [event] = executionEvents(history);

    // Assess
    expect(event?.error).toBe('unnamed');
  });
});

describe('SfnWorkflowStarter.executionHistory', () => {
  const sfnMock = mockClient(SFNClient);
  const starter = new SfnWorkflowStarter({
    client: new SFNClient({ region: 'us-east-1' }),
    stateMachineArn,
  });
  const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${runId}-redrive-1`;

  beforeEach(() => {
    sfnMock.reset();
  });

  afterAll(() => {
    sfnMock.restore();
  });

  it('reads every page of the execution’s history, asking for no execution data', async () => {
    // Prepare
    const at = new Date('2030-01-01T00:00:00.000Z');
    sfnMock
      .on(GetExecutionHistoryCommand, {
        executionArn,
        maxResults: 1000,
        includeExecutionData: false,
      })
      .resolvesOnce({
        events: [{ id: 1, type: 'ExecutionStarted', timestamp: at }],
        nextToken: 'page-2',
      })
      .resolvesOnce({ events: [{ id: 2, type: 'ExecutionSucceeded', timestamp: at }] });

    // Act
    const history = await starter.executionHistory(runId, 1, 5000);

    // Assess
    expect(history?.events.map((event) => event.type)).toEqual([
      'ExecutionStarted',
      'ExecutionSucceeded',
    ]);
    expect(history?.complete).toBe(true);
    const calls = sfnMock.commandCalls(GetExecutionHistoryCommand);
    expect(calls.map((call) => call.args[0].input.nextToken)).toEqual([undefined, 'page-2']);
  });

  it('stops at maxEvents, asking for no more than it lacks, and says the history is incomplete', async () => {
    // Prepare
    const at = new Date('2030-01-01T00:00:00.000Z');
    const page = (from: number, length: number) =>
      Array.from({ length }, (_, index) => ({
        id: from + index,
        type: 'PassStateEntered' as const,
        timestamp: at,
      }));
    sfnMock
      .on(GetExecutionHistoryCommand)
      .resolvesOnce({ events: page(1, 1000), nextToken: 'page-2' })
      .resolvesOnce({ events: page(1001, 500), nextToken: 'page-3' })
      .resolves({ events: page(1501, 1000), nextToken: 'page-n' });

    // Act
    const history = await starter.executionHistory(runId, 1, 1500);

    // Assess
    expect(history?.events).toHaveLength(1500);
    expect(history?.complete).toBe(false);
    const calls = sfnMock.commandCalls(GetExecutionHistoryCommand);
    expect(calls.map((call) => call.args[0].input.maxResults)).toEqual([1000, 500]);
  });

  it('answers undefined for an execution that does not exist', async () => {
    // Prepare
    sfnMock
      .on(GetExecutionHistoryCommand)
      .rejects(new ExecutionDoesNotExist({ message: 'no such execution', $metadata: {} }));

    // Act / Assess
    await expect(starter.executionHistory(runId, 1, 1000)).resolves.toBeUndefined();
  });

  it('answers a service fault with ServiceUnavailableError', async () => {
    // Prepare
    sfnMock.on(GetExecutionHistoryCommand).rejects(new Error('socket hang up'));

    // Act / Assess
    await expect(starter.executionHistory(runId, 1, 1000)).rejects.toBeInstanceOf(
      ServiceUnavailableError,
    );
  });
});
