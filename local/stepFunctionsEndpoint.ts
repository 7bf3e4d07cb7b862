import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import { toAppError } from '../lib/db/errors.ts';
import type { ExecutionStatus, ExecutionStore, StoredExecution } from './executionStore.ts';
import { type ExecutionEvent, LocalStateMachine, type TaskInvoker } from './localStateMachine.ts';

/** Written where an execution was taken up again after its process stopped. */
interface ResumedEvent {
  readonly type: 'ExecutionResumed';
  readonly timestamp: number;
  readonly resumes: number;
}
type HistoryEntry = ExecutionEvent | ResumedEvent;

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
  resumes: number;
  resumeDate?: number;
  readonly events: HistoryEntry[];
  /** How many of `events` the store holds. */
  persisted: number;
  /** The store writes of this execution, in order. */
  writes: Promise<void>;
  abort: () => void;
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
  /** Where executions are kept; without one they live as long as the process. */
  readonly store?: ExecutionStore;
  /** Milliseconds between task retries, overriding the ASL's backoff (tests). */
  readonly retryIntervalMs?: number;
}

export interface RunningStepFunctions {
  readonly endpoint: string;
  readonly stateMachineArn: string;
  /** Runs again every stored execution still RUNNING that this process is not running. */
  resumeInterrupted(): Promise<number>;
  /**
   * Closes the server. Running executions stop here and stay RUNNING in the store, so that
   * the next start resumes them; without a store they are aborted.
   */
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
      case 'ExecutionResumed':
        // Step Functions' own word for an execution taken up again where it stopped.
        return {
          ...base,
          type: 'ExecutionRedriven',
          executionRedrivenEventDetails: { redriveCount: event.resumes },
        };
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
    ...(execution.resumes === 0 ? {} : { redriveCount: execution.resumes }),
    ...(execution.resumeDate === undefined ? {} : { redriveDate: seconds(execution.resumeDate) }),
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

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const STORE_RETRY_MAX_MS = 2_000;

/**
 * A local Step Functions endpoint: the AWS JSON 1.0 protocol for StartExecution,
 * DescribeExecution, ListExecutions and GetExecutionHistory, enough for @aws-sdk/client-sfn
 * and the AWS CLI. Executions run the real ASL with aws-local-stepfunctions; what each Task
 * does is the caller's `invokeTask` (the embedded stack invokes the stage Lambda). Given a
 * store, executions and their history are durable, and `resumeInterrupted` runs again the
 * executions a stopped or killed process left running: every stage is idempotent, so the
 * stages that committed return at once and the rest do their work.
 */
export async function startLocalStepFunctions(
  options: LocalStepFunctionsOptions,
): Promise<RunningStepFunctions> {
  const machine = new LocalStateMachine(options.definition);
  const stateMachineArn = `arn:aws:states:${options.region}:${ACCOUNT}:stateMachine:${options.stateMachineName}`;
  const { store } = options;
  if (store !== undefined && !(await store.claim(stateMachineArn))) {
    throw new Error(
      `another local Step Functions endpoint runs ${options.stateMachineName} on this database`,
    );
  }
  /** Executions this process runs, and (without a store) every one it ran. */
  const executions = new Map<string, Execution>();
  let stopping = false;

  /**
   * A store write that outlives database faults: retried with backoff until it succeeds,
   * or until the endpoint stops (what was not written then is resumed from what was).
   */
  async function durably(write: () => Promise<void>): Promise<void> {
    for (let delay = 50; ; delay = Math.min(delay * 2, STORE_RETRY_MAX_MS)) {
      try {
        await write();
        return;
      } catch (error) {
        // A write the database refuses for what it holds would be refused forever.
        if (stopping || !toAppError(error).retryable) return;
        await pause(delay);
      }
    }
  }

  /** A store read that rides out dropped connections, a few times, then fails. */
  async function retried<T>(read: () => Promise<T>): Promise<T> {
    for (let attempt = 1, delay = 50; ; attempt += 1, delay = Math.min(delay * 2, 1_000)) {
      try {
        return await read();
      } catch (error) {
        if (attempt >= 10 || !toAppError(error).retryable) throw error;
        await pause(delay);
      }
    }
  }

  function enqueue(execution: Execution, write: () => Promise<void>): void {
    execution.writes = execution.writes.then(() => durably(write));
  }

  /** Writes the events not written yet, in one statement. */
  function persistEvents(execution: Execution): void {
    if (store === undefined) return;
    enqueue(execution, async () => {
      const first = execution.persisted;
      const pending = execution.events.slice(first);
      await store.appendEvents(execution.executionArn, first + 1, pending);
      execution.persisted = first + pending.length;
    });
  }

  function fromStore(stored: StoredExecution, events: HistoryEntry[]): Execution {
    return {
      executionArn: stored.executionArn,
      stateMachineArn: stored.stateMachineArn,
      name: stored.name,
      input: stored.input,
      startDate: stored.startDate,
      status: stored.status,
      resumes: stored.resumes,
      ...(stored.stopDate === undefined ? {} : { stopDate: stored.stopDate }),
      ...(stored.output === undefined ? {} : { output: stored.output }),
      ...(stored.error === undefined ? {} : { error: stored.error }),
      ...(stored.cause === undefined ? {} : { cause: stored.cause }),
      events,
      persisted: events.length,
      writes: Promise.resolve(),
      abort: () => undefined,
      done: Promise.resolve(),
    };
  }

  async function find(body: Record<string, unknown>): Promise<Execution> {
    const executionArn = stringField(body, 'executionArn');
    const live = executions.get(executionArn);
    if (live !== undefined) return live;
    const stored = await store?.find(executionArn);
    if (stored === undefined)
      throw new ServiceError('ExecutionDoesNotExist', 'execution does not exist');
    return fromStore(stored, (await store?.events(executionArn)) as HistoryEntry[]);
  }

  /** Runs the ASL for `execution` and follows it to its end, recording its events and outcome. */
  function begin(execution: Execution, resumed: boolean): void {
    const run = machine.run(JSON.parse(execution.input), {
      invokeTask: options.invokeTask,
      retryIntervalMs: options.retryIntervalMs,
      onEvent: (event) => {
        // A resumed execution started long ago; what follows its resume event is its history.
        if (stopping || (resumed && event.type === 'ExecutionStarted')) return;
        execution.events.push(event);
        persistEvents(execution);
      },
    });
    execution.abort = run.abort;
    execution.done = (async () => {
      const ended = await run.ended;
      let end: Pick<Execution, 'status' | 'output' | 'error' | 'cause'>;
      if (ended.status === 'SUCCEEDED') {
        end = { status: 'SUCCEEDED', output: JSON.stringify(ended.output) };
      } else {
        const has = (type: string) => execution.events.some((event) => event.type === type);
        const failed = execution.events.findLast((event) => event.type === 'ExecutionFailed');
        end = {
          status: has('ExecutionAborted')
            ? 'ABORTED'
            : has('ExecutionTimeout')
              ? 'TIMED_OUT'
              : 'FAILED',
          error: failed?.type === 'ExecutionFailed' ? failed.Error : (ended.error as Error).name,
          cause: failed?.type === 'ExecutionFailed' ? String(failed.Cause ?? '') : '',
        };
      }
      // Stopped by this process's end, not finished: it stays RUNNING for the next start.
      if (stopping && store !== undefined) return;
      Object.assign(execution, end, { stopDate: Date.now() });
      if (store === undefined) return;
      enqueue(execution, () =>
        store.end(execution.executionArn, {
          status: end.status as Exclude<ExecutionStatus, 'RUNNING'>,
          stopDate: execution.stopDate ?? Date.now(),
          output: end.output,
          error: end.error,
          cause: end.cause,
        }),
      );
      await execution.writes;
      // Stored for good: later reads go to the store, and memory does not grow with history.
      executions.delete(execution.executionArn);
    })();
  }

  async function startExecution(body: Record<string, unknown>) {
    if (stringField(body, 'stateMachineArn') !== stateMachineArn) {
      throw new ServiceError('StateMachineDoesNotExist', 'state machine does not exist');
    }
    const name = typeof body['name'] === 'string' ? body['name'] : randomUUID();
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(name))
      throw new ServiceError('InvalidName', 'invalid execution name');
    const input = typeof body['input'] === 'string' ? body['input'] : '{}';
    const executionArn = `arn:aws:states:${options.region}:${ACCOUNT}:execution:${options.stateMachineName}:${name}`;
    const sameExecution = (existing: { input: string; startDate: number }) => {
      // As in Standard workflows: the same name and input is the same execution.
      if (existing.input === input) return { executionArn, startDate: seconds(existing.startDate) };
      throw new ServiceError('ExecutionAlreadyExists', 'execution already exists');
    };
    const live = executions.get(executionArn);
    if (live !== undefined) return sameExecution(live);
    const stored = await store?.find(executionArn);
    if (stored !== undefined) {
      // Stored by a start whose answer was lost (the caller retries): it runs from now on.
      if (stored.status === 'RUNNING' && stored.input === input) await takeUp(stored);
      return sameExecution(stored);
    }
    try {
      JSON.parse(input);
    } catch {
      throw new ServiceError('InvalidExecutionInput', 'input is not JSON');
    }
    const execution: Execution = {
      executionArn,
      stateMachineArn,
      name,
      input,
      startDate: Date.now(),
      status: 'RUNNING',
      resumes: 0,
      events: [],
      persisted: 0,
      writes: Promise.resolve(),
      abort: () => undefined,
      done: Promise.resolve(),
    };
    // Durable before it is acknowledged, as StartExecution is.
    if (store !== undefined && !(await store.insert({ ...execution, ...NOT_ENDED }))) {
      const raced = await store.find(executionArn);
      if (raced !== undefined) {
        if (raced.status === 'RUNNING' && raced.input === input) await takeUp(raced);
        return sameExecution(raced);
      }
    }
    executions.set(executionArn, execution);
    begin(execution, false);
    return { executionArn, startDate: seconds(execution.startDate) };
  }

  /**
   * Runs a stored RUNNING execution that no part of this process runs: this process alone runs
   * the state machine (ExecutionStore.claim), so nothing else does either. One that had begun
   * is resumed; one whose start was stored but never begun starts now.
   */
  async function takeUp(stored: StoredExecution): Promise<boolean> {
    if (store === undefined) return false;
    const events = (await retried(() => store.events(stored.executionArn))) as HistoryEntry[];
    const resumes =
      events.length === 0 ? 0 : await retried(() => store.markResumed(stored.executionArn));
    // Another request took it up while this one read the store.
    if (executions.has(stored.executionArn)) return false;
    const execution = fromStore(stored, events);
    executions.set(execution.executionArn, execution);
    if (events.length === 0) {
      begin(execution, false);
      return true;
    }
    execution.resumes = resumes;
    execution.resumeDate = Date.now();
    execution.events.push({ type: 'ExecutionResumed', timestamp: execution.resumeDate, resumes });
    persistEvents(execution);
    begin(execution, true);
    return true;
  }

  async function resumeInterrupted(): Promise<number> {
    if (store === undefined) return 0;
    let resumed = 0;
    for (const stored of await retried(() => store.running(stateMachineArn))) {
      if (!executions.has(stored.executionArn) && (await takeUp(stored))) resumed += 1;
    }
    return resumed;
  }

  function pageOf(body: Record<string, unknown>, fallback: number) {
    const limit =
      typeof body['maxResults'] === 'number' && body['maxResults'] > 0
        ? body['maxResults']
        : fallback;
    const offset =
      typeof body['nextToken'] === 'string' ? Number.parseInt(body['nextToken'], 10) || 0 : 0;
    return { limit, offset };
  }

  const operations: Record<string, (body: Record<string, unknown>) => Promise<unknown>> = {
    StartExecution: startExecution,
    DescribeExecution: async (body) => {
      const execution = await find(body);
      return {
        ...summary(execution),
        input: execution.input,
        ...(execution.output === undefined ? {} : { output: execution.output }),
        ...(execution.error === undefined
          ? {}
          : { error: execution.error, cause: execution.cause }),
      };
    },
    ListExecutions: async (body) => {
      const statusFilter =
        typeof body['statusFilter'] === 'string' ? body['statusFilter'] : undefined;
      const { limit, offset } = pageOf(body, 100);
      if (store === undefined) {
        const all = [...executions.values()]
          .filter((execution) => statusFilter === undefined || execution.status === statusFilter)
          .sort((a, b) => b.startDate - a.startDate);
        return {
          executions: all.slice(offset, offset + limit).map(summary),
          ...(offset + limit < all.length ? { nextToken: String(offset + limit) } : {}),
        };
      }
      // One more than the page tells whether there is a next one.
      const rows = await store.list(stateMachineArn, {
        status: statusFilter,
        offset,
        limit: limit + 1,
      });
      return {
        executions: rows
          .slice(0, limit)
          .map((row) => summary(executions.get(row.executionArn) ?? fromStore(row, []))),
        ...(rows.length > limit ? { nextToken: String(offset + limit) } : {}),
      };
    },
    GetExecutionHistory: async (body) => {
      const execution = await find(body);
      const events = historyEvents(execution, body['includeExecutionData'] !== false);
      if (body['reverseOrder'] === true) events.reverse();
      const { limit, offset } = pageOf(body, 1000);
      return {
        events: events.slice(offset, offset + limit),
        ...(offset + limit < events.length ? { nextToken: String(offset + limit) } : {}),
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
      send(200, await operation(await readJson(request)));
    } catch (error) {
      // The store unreachable is the service unavailable: callers retry, as they would on AWS.
      const serviceError =
        error instanceof ServiceError
          ? error
          : new ServiceError('ServiceUnavailable', 'service unavailable', 503);
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
    resumeInterrupted,
    stop: async () => {
      stopping = true;
      const live = [...executions.values()];
      for (const execution of live) {
        if (execution.status === 'RUNNING') execution.abort();
      }
      await Promise.allSettled(live.map((execution) => execution.done));
      await Promise.race([
        Promise.allSettled(live.map((execution) => execution.writes)),
        pause(STORE_RETRY_MAX_MS * 2),
      ]);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store?.close();
    },
  };
}

const NOT_ENDED = {
  stopDate: undefined,
  output: undefined,
  error: undefined,
  cause: undefined,
} as const;
