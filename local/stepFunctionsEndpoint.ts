import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';

/**
 * A local Step Functions endpoint: the AWS JSON 1.0 protocol for StartExecution,
 * DescribeExecution, ListExecutions and GetExecutionHistory, enough for @aws-sdk/client-sfn
 * and the AWS CLI. Executions run the real ASL with aws-local-stepfunctions; what each Task
 * does is the caller's `invokeTask` (the embedded stack invokes the stage Lambda).
 */
export type TaskInvoker = (stateName: string, input: unknown) => Promise<unknown>;

type JsonValue = Parameters<StateMachine['run']>[0];
type EventLog =
  ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;
type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';

interface Execution {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly input: string;
  readonly startDate: number;
  status: ExecutionStatus;
  stopDate?: number;
  output?: string;
  error?: string;
  cause?: string;
  readonly events: EventLog[];
  readonly abort: () => void;
  done: Promise<void>;
}

class ServiceError extends Error {
  readonly type: string;
  readonly status: number;

  constructor(type: string, message: string, status = 400) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

export interface LocalStepFunctionsOptions {
  readonly definition: StateMachineDefinition;
  readonly stateMachineName: string;
  readonly region: string;
  readonly invokeTask: TaskInvoker;
}

export interface RunningStepFunctions {
  readonly endpoint: string;
  readonly stateMachineArn: string;
  /** Aborts running executions and closes the server. */
  stop(): Promise<void>;
}

const seconds = (ms: number) => ms / 1000;
const ACCOUNT = '000000000000';

const HISTORY_STATE_TYPES: Record<string, string> = {
  Task: 'Task',
  Choice: 'Choice',
  Succeed: 'Succeed',
  Fail: 'Fail',
  Pass: 'Pass',
  Wait: 'Wait',
  Map: 'Map',
  Parallel: 'Parallel',
};

/** Turns the interpreter's event log into Step Functions history events. */
function historyEvents(execution: Execution, includeData: boolean): Record<string, unknown>[] {
  const data = (value: unknown) => (includeData ? JSON.stringify(value ?? null) : undefined);
  return execution.events.map((event, index) => {
    const base = { id: index + 1, previousEventId: index, timestamp: seconds(event.timestamp) };
    switch (event.type) {
      case 'ExecutionStarted':
        return {
          ...base,
          type: 'ExecutionStarted',
          executionStartedEventDetails: {
            input: data(event.input),
            roleArn: `arn:aws:iam::${ACCOUNT}:role/local`,
          },
        };
      case 'ExecutionSucceeded':
        return {
          ...base,
          type: 'ExecutionSucceeded',
          executionSucceededEventDetails: { output: data(event.output) },
        };
      case 'ExecutionFailed':
        return {
          ...base,
          type: 'ExecutionFailed',
          executionFailedEventDetails: { error: event.Error, cause: String(event.Cause ?? '') },
        };
      case 'ExecutionAborted':
        return { ...base, type: 'ExecutionAborted' };
      case 'ExecutionTimeout':
        return { ...base, type: 'ExecutionTimedOut' };
      case 'StateEntered':
        return {
          ...base,
          type: `${HISTORY_STATE_TYPES[event.state.type] ?? 'Pass'}StateEntered`,
          stateEnteredEventDetails: { name: event.state.name, input: data(event.state.input) },
        };
      case 'StateExited':
        return {
          ...base,
          type: `${HISTORY_STATE_TYPES[event.state.type] ?? 'Pass'}StateExited`,
          stateExitedEventDetails: { name: event.state.name, output: data(event.state.output) },
        };
      case 'StateFailed':
      case 'StateCaught':
      case 'StateRetried': {
        const failed = event.type === 'StateFailed' ? event : undefined;
        return {
          ...base,
          type: 'TaskFailed',
          taskFailedEventDetails: {
            resourceType: 'lambda',
            resource: event.state.name,
            error: failed?.Error ?? (event.type === 'StateRetried' ? 'Retried' : 'Caught'),
            cause: failed === undefined ? '' : String(failed.Cause ?? ''),
          },
        };
      }
      default:
        return { ...base, type: event.type };
    }
  });
}

function summary(execution: Execution) {
  return {
    executionArn: execution.executionArn,
    stateMachineArn: execution.stateMachineArn,
    name: execution.name,
    status: execution.status,
    startDate: seconds(execution.startDate),
    ...(execution.stopDate === undefined ? {} : { stopDate: seconds(execution.stopDate) }),
  };
}

async function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > 1024 * 1024) throw new ServiceError('ValidationException', 'request too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    const value: unknown = text === '' ? {} : JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new Error('not an object');
    return value as Record<string, unknown>;
  } catch {
    throw new ServiceError('SerializationException', 'the request body is not a JSON object');
  }
}

function stringField(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (typeof value !== 'string' || value === '') {
    throw new ServiceError('ValidationException', `${name} is required`);
  }
  return value;
}

/** Follows an execution to its end, recording its events, status, output or error. */
async function track(execution: Execution, run: ReturnType<StateMachine['run']>): Promise<void> {
  const collecting = (async () => {
    for await (const event of run.eventLogs) execution.events.push(event);
  })();
  try {
    const output = JSON.stringify(await run.result);
    // Status is read from the events, so every event must be in before it is set.
    execution.output = output;
    execution.status = 'SUCCEEDED';
  } catch (error) {
    await collecting;
    const has = (type: string) => execution.events.some((event) => event.type === type);
    const failed = execution.events.findLast((event) => event.type === 'ExecutionFailed');
    execution.status = has('ExecutionAborted')
      ? 'ABORTED'
      : has('ExecutionTimeout')
        ? 'TIMED_OUT'
        : 'FAILED';
    execution.error = failed?.type === 'ExecutionFailed' ? failed.Error : (error as Error).name;
    execution.cause = failed?.type === 'ExecutionFailed' ? String(failed.Cause ?? '') : '';
  }
  execution.stopDate = Date.now();
}

export async function startLocalStepFunctions(
  options: LocalStepFunctionsOptions,
): Promise<RunningStepFunctions> {
  const machine = new StateMachine(options.definition);
  const stateMachineArn = `arn:aws:states:${options.region}:${ACCOUNT}:stateMachine:${options.stateMachineName}`;
  const executions = new Map<string, Execution>();

  function find(body: Record<string, unknown>): Execution {
    const execution = executions.get(stringField(body, 'executionArn'));
    if (execution === undefined)
      throw new ServiceError('ExecutionDoesNotExist', 'execution does not exist');
    return execution;
  }

  function startExecution(body: Record<string, unknown>) {
    if (stringField(body, 'stateMachineArn') !== stateMachineArn) {
      throw new ServiceError('StateMachineDoesNotExist', 'state machine does not exist');
    }
    const name = typeof body['name'] === 'string' ? body['name'] : randomUUID();
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(name))
      throw new ServiceError('InvalidName', 'invalid execution name');
    const input = typeof body['input'] === 'string' ? body['input'] : '{}';
    const executionArn = `arn:aws:states:${options.region}:${ACCOUNT}:execution:${options.stateMachineName}:${name}`;
    const existing = executions.get(executionArn);
    if (existing !== undefined) {
      // As in Standard workflows: the same name and input is the same execution.
      if (existing.input === input) return { executionArn, startDate: seconds(existing.startDate) };
      throw new ServiceError('ExecutionAlreadyExists', 'execution already exists');
    }
    let parsed: JsonValue;
    try {
      parsed = JSON.parse(input) as JsonValue;
    } catch {
      throw new ServiceError('InvalidExecutionInput', 'input is not JSON');
    }
    const taskResourceLocalHandlers = Object.fromEntries(
      Object.entries(options.definition.States)
        .filter(([, state]) => state.Type === 'Task')
        .map(([stateName]) => [
          stateName,
          async (taskInput: JsonValue) =>
            (await options.invokeTask(stateName, taskInput)) as JsonValue,
        ]),
    );
    const run = machine.run(parsed, { overrides: { taskResourceLocalHandlers } });
    const execution: Execution = {
      executionArn,
      stateMachineArn,
      name,
      input,
      startDate: Date.now(),
      status: 'RUNNING',
      events: [],
      abort: run.abort,
      done: Promise.resolve(),
    };
    execution.done = track(execution, run);
    executions.set(executionArn, execution);
    return { executionArn, startDate: seconds(execution.startDate) };
  }

  const operations: Record<string, (body: Record<string, unknown>) => unknown> = {
    StartExecution: startExecution,
    DescribeExecution: (body) => {
      const execution = find(body);
      return {
        ...summary(execution),
        input: execution.input,
        ...(execution.output === undefined ? {} : { output: execution.output }),
        ...(execution.error === undefined
          ? {}
          : { error: execution.error, cause: execution.cause }),
      };
    },
    ListExecutions: (body) => {
      const statusFilter = body['statusFilter'];
      const maxResults =
        typeof body['maxResults'] === 'number' && body['maxResults'] > 0 ? body['maxResults'] : 100;
      const offset =
        typeof body['nextToken'] === 'string' ? Number.parseInt(body['nextToken'], 10) || 0 : 0;
      const all = [...executions.values()]
        .filter((execution) => statusFilter === undefined || execution.status === statusFilter)
        .sort((a, b) => b.startDate - a.startDate);
      const page = all.slice(offset, offset + maxResults);
      return {
        executions: page.map(summary),
        ...(offset + maxResults < all.length ? { nextToken: String(offset + maxResults) } : {}),
      };
    },
    GetExecutionHistory: (body) => {
      const execution = find(body);
      const events = historyEvents(execution, body['includeExecutionData'] !== false);
      if (body['reverseOrder'] === true) events.reverse();
      const maxResults =
        typeof body['maxResults'] === 'number' && body['maxResults'] > 0
          ? body['maxResults']
          : 1000;
      const offset =
        typeof body['nextToken'] === 'string' ? Number.parseInt(body['nextToken'], 10) || 0 : 0;
      return {
        events: events.slice(offset, offset + maxResults),
        ...(offset + maxResults < events.length ? { nextToken: String(offset + maxResults) } : {}),
      };
    },
  };

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const send = (status: number, body: unknown, errorType?: string) => {
      response.writeHead(status, {
        'content-type': 'application/x-amz-json-1.0',
        ...(errorType === undefined ? {} : { 'x-amzn-errortype': errorType }),
      });
      response.end(JSON.stringify(body));
    };
    try {
      const target = String(request.headers['x-amz-target'] ?? '');
      const operation = operations[target.replace(/^AWSStepFunctions\./, '')];
      if (request.method !== 'POST' || operation === undefined) {
        throw new ServiceError('UnknownOperationException', 'unsupported operation');
      }
      send(200, operation(await readJson(request)));
    } catch (error) {
      const serviceError =
        error instanceof ServiceError
          ? error
          : new ServiceError('InternalFailure', 'internal failure', 500);
      send(
        serviceError.status,
        { __type: serviceError.type, message: serviceError.message },
        serviceError.type,
      );
    }
  }

  const server: Server = createServer((request, response) => void handle(request, response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stateMachineArn,
    stop: async () => {
      for (const execution of executions.values()) {
        if (execution.status === 'RUNNING') execution.abort();
      }
      await Promise.allSettled([...executions.values()].map((execution) => execution.done));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
