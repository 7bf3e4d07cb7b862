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
/** Written where StopExecution stopped an execution: the caller's error and cause, if any. */
interface StoppedEvent {
  readonly type: 'ExecutionAborted';
  readonly timestamp: number;
  readonly error?: string;
  readonly cause?: string;
}
type HistoryEntry = ExecutionEvent | ResumedEvent | StoppedEvent;

/** What a StopExecution asked for: both optional, as on AWS. */
interface StopDetails {
  readonly error?: string;
  readonly cause?: string;
}

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
  /** Set by StopExecution before it aborts the run. */
  stopped?: StopDetails;
  /** Whether its end, and every event before it, is in the store (set when it ends). */
  endStored?: boolean;
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
  /** The loopback port to listen on; any free one when unset (tests). */
  readonly port?: number;
}

export interface RunningStepFunctions {
  readonly endpoint: string;
  readonly stateMachineArn: string;
  /** The port it listens on, in `endpoint`. */
  readonly port: number;
  /** Runs again every stored execution still RUNNING that this process is not running. */
  resumeInterrupted(): Promise<number>;
  /**
   * Closes the server. Running executions stop here and stay RUNNING in the store, so that
   * the next start resumes them; without a store they are aborted. A StopExecution meanwhile
   * is answered ServiceUnavailable.
   */
  stop(): Promise<void>;
}

const seconds = (ms: number) => ms / 1000;
const ACCOUNT = '000000000000';
const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/local`;
/** What DescribeStateMachine tells of a Standard state machine without logs or X-Ray. */
const UNCONFIGURED = {
  loggingConfiguration: { level: 'OFF', includeExecutionData: false },
  tracingConfiguration: { enabled: false },
} as const;

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
            roleArn: ROLE_ARN,
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
      case 'ExecutionAborted': {
        const { error, cause } = event as StoppedEvent;
        return {
          ...base,
          type: 'ExecutionAborted',
          ...(error === undefined && cause === undefined
            ? {}
            : {
                executionAbortedEventDetails: {
                  ...(error === undefined ? {} : { error }),
                  ...(cause === undefined ? {} : { cause }),
                },
              }),
        };
      }
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

/** An optional string of at most `max` characters. */
function optionalString(body: Record<string, unknown>, name: string, max: number) {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length > max) {
    throw new ServiceError(
      'ValidationException',
      `${name} must be a string of at most ${max} characters`,
    );
  }
  return value;
}

/**
 * The ARN in `name`, refused as Step Functions refuses it (InvalidArn) unless it names a
 * resource of `kind`: arn:partition:states:region:account:stateMachine:name[:version], or
 * arn:partition:states:region:account:execution:stateMachineName:executionName.
 */
function arnField(
  body: Record<string, unknown>,
  name: string,
  kind: 'stateMachine' | 'execution',
): string {
  const arn = stringField(body, name);
  const parts = arn.split(':');
  if (parts.length < 7 || parts[0] !== 'arn' || parts[2] !== 'states') {
    throw new ServiceError('InvalidArn', `Invalid Arn: '${arn}'`);
  }
  if (parts[5] !== kind) {
    throw new ServiceError(
      'InvalidArn',
      `Invalid Arn: 'Resource type not valid in this context: ${parts[5]}'`,
    );
  }
  const names = parts.slice(6);
  const counted = kind === 'execution' ? names.length === 2 : names.length <= 2;
  if (!counted || names.some((part) => part === '')) {
    throw new ServiceError('InvalidArn', `Invalid Arn: '${arn}'`);
  }
  return arn;
}

function unavailable(): ServiceError {
  return new ServiceError('ServiceUnavailable', 'service unavailable', 503);
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const STORE_RETRY_MAX_MS = 2_000;

/**
 * A local Step Functions endpoint: the AWS JSON 1.0 protocol for ListStateMachines,
 * DescribeStateMachine, StartExecution, StopExecution, DescribeExecution,
 * DescribeStateMachineForExecution, ListExecutions and GetExecutionHistory, answered as Step
 * Functions answers them, for @aws-sdk/client-sfn and the AWS CLI. Executions run the real ASL
 * with aws-local-stepfunctions; what each Task does is the caller's `invokeTask` (the
 * embedded stack invokes the stage Lambda). Given a store, executions and their history are
 * durable, and `resumeInterrupted` runs again the executions a stopped or killed process left
 * running: every stage is idempotent, so the stages that committed return at once and the
 * rest do their work.
 */
export async function startLocalStepFunctions(
  options: LocalStepFunctionsOptions,
): Promise<RunningStepFunctions> {
  // As given: the interpreter adds its defaults to the definition it is handed.
  const definition = JSON.stringify(options.definition);
  const machine = new LocalStateMachine(options.definition);
  const stateMachineArn = `arn:aws:states:${options.region}:${ACCOUNT}:stateMachine:${options.stateMachineName}`;
  const { store } = options;
  // From here on the store is the endpoint's: closed by stop(), or by a start that fails.
  let dates: { creationDate: number; updateDate: number };
  try {
    if (store !== undefined && !(await store.claim(stateMachineArn))) {
      throw new Error(
        `another local Step Functions endpoint runs ${options.stateMachineName} on this database`,
      );
    }
    const now = Date.now();
    dates = (await store?.registerStateMachine(stateMachineArn, definition)) ?? {
      creationDate: now,
      updateDate: now,
    };
  } catch (error) {
    await store?.close().catch(() => undefined);
    throw error;
  }
  /** Executions this process runs, and (without a store) every one it ran. */
  const executions = new Map<string, Execution>();
  let stopping = false;

  /**
   * A store write that outlives database faults: retried with backoff until it succeeds (true),
   * or until the endpoint stops (what was not written then is resumed from what was).
   */
  async function durably(write: () => Promise<void>): Promise<boolean> {
    for (let delay = 50; ; delay = Math.min(delay * 2, STORE_RETRY_MAX_MS)) {
      try {
        await write();
        return true;
      } catch (error) {
        // A write the database refuses for what it holds would be refused forever.
        if (stopping || !toAppError(error).retryable) return false;
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

  function enqueue(execution: Execution, write: () => Promise<void>): Promise<boolean> {
    const written = execution.writes.then(() => durably(write));
    execution.writes = written.then(() => undefined);
    return written;
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

  function noSuchExecution(executionArn: string): ServiceError {
    return new ServiceError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
  }

  async function find(body: Record<string, unknown>): Promise<Execution> {
    const executionArn = arnField(body, 'executionArn', 'execution');
    const live = executions.get(executionArn);
    if (live !== undefined) return live;
    const stored = await store?.find(executionArn);
    if (stored === undefined) throw noSuchExecution(executionArn);
    return fromStore(stored, (await store?.events(executionArn)) as HistoryEntry[]);
  }

  /** The state machine `body` names, which must be this one. */
  function stateMachineOf(body: Record<string, unknown>): string {
    const arn = arnField(body, 'stateMachineArn', 'stateMachine');
    if (arn !== stateMachineArn) {
      throw new ServiceError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
    }
    return arn;
  }

  /**
   * Runs `work` once the execution's earlier `work` has ended: taking up an execution no one
   * runs, and stopping one, read and write the store, and must not interleave.
   */
  const turns = new Map<string, Promise<unknown>>();
  function inTurn<T>(executionArn: string, work: () => Promise<T>): Promise<T> {
    const result = (turns.get(executionArn) ?? Promise.resolve()).then(work);
    const settled = result.catch(() => undefined);
    turns.set(executionArn, settled);
    void settled.then(() => {
      if (turns.get(executionArn) === settled) turns.delete(executionArn);
    });
    return result;
  }

  /** Runs the ASL for `execution` and follows it to its end, recording its events and outcome. */
  function begin(execution: Execution, resumed: boolean): void {
    const run = machine.run(JSON.parse(execution.input), {
      invokeTask: options.invokeTask,
      retryIntervalMs: options.retryIntervalMs,
      onEvent: (event) => {
        // Left RUNNING by this process's end unless StopExecution stopped it first.
        if (stopping && execution.stopped === undefined) return;
        // A resumed execution started long ago; what follows its resume event is its history.
        if (resumed && event.type === 'ExecutionStarted') return;
        execution.events.push(
          event.type === 'ExecutionAborted' ? { ...event, ...execution.stopped } : event,
        );
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
        if (has('ExecutionAborted')) {
          // As on AWS: an execution stopped tells the error and cause its stop gave, if any.
          end = { status: 'ABORTED', ...execution.stopped };
        } else {
          end = {
            status: has('ExecutionTimeout') ? 'TIMED_OUT' : 'FAILED',
            error: failed?.type === 'ExecutionFailed' ? failed.Error : (ended.error as Error).name,
            cause: failed?.type === 'ExecutionFailed' ? String(failed.Cause ?? '') : '',
          };
        }
      }
      // Stopped by this process's end, not finished: it stays RUNNING for the next start.
      if (stopping && store !== undefined && execution.stopped === undefined) return;
      Object.assign(execution, end, { stopDate: Date.now() });
      if (store === undefined) return;
      const endWritten = await enqueue(execution, () =>
        store.end(execution.executionArn, {
          status: end.status as Exclude<ExecutionStatus, 'RUNNING'>,
          stopDate: execution.stopDate ?? Date.now(),
          output: end.output,
          error: end.error,
          cause: end.cause,
        }),
      );
      execution.endStored = endWritten && execution.persisted === execution.events.length;
      // Stored for good: later reads go to the store, and memory does not grow with history.
      executions.delete(execution.executionArn);
    })();
  }

  async function startExecution(body: Record<string, unknown>) {
    stateMachineOf(body);
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
  function takeUp({ executionArn }: StoredExecution): Promise<boolean> {
    return inTurn(executionArn, async () => {
      if (store === undefined || executions.has(executionArn)) return false;
      // Stopped since it was read, by StopExecution.
      const stored = await retried(() => store.find(executionArn));
      if (stored?.status !== 'RUNNING') return false;
      const events = (await retried(() => store.events(executionArn))) as HistoryEntry[];
      const resumes =
        events.length === 0 ? 0 : await retried(() => store.markResumed(executionArn));
      // Another request took it up while this one read the store.
      if (executions.has(executionArn)) return false;
      run(fromStore(stored, events), resumes);
      return true;
    });
  }

  /** Runs a stored execution taken up: from its start, or resumed where its history ends. */
  function run(execution: Execution, resumes: number): void {
    executions.set(execution.executionArn, execution);
    if (execution.events.length === 0) {
      begin(execution, false);
      return;
    }
    execution.resumes = resumes;
    execution.resumeDate = Date.now();
    execution.events.push({ type: 'ExecutionResumed', timestamp: execution.resumeDate, resumes });
    persistEvents(execution);
    begin(execution, true);
  }

  /**
   * Stops an execution as StopExecution does: a running one is aborted where it is, with an
   * ExecutionAborted event and status ABORTED, durably, before the answer; an ended one is left
   * as it is. Its stop date either way.
   */
  async function stopExecution(body: Record<string, unknown>) {
    const executionArn = arnField(body, 'executionArn', 'execution');
    const requested = {
      error: optionalString(body, 'error', 256),
      cause: optionalString(body, 'cause', 32_768),
    };
    const details: StopDetails = Object.fromEntries(
      Object.entries(requested).filter(([, value]) => value !== undefined),
    );
    // A process ending leaves its executions RUNNING: a stop now could not be kept.
    if (stopping) throw unavailable();
    const stopLive = async (execution: Execution) => {
      if (execution.status === 'RUNNING' && execution.stopped === undefined) {
        execution.stopped = details;
        execution.abort();
      }
      await execution.done;
      // Never a success for a stop the store did not keep: the next start would resume it.
      if (store !== undefined && execution.stopped !== undefined && !execution.endStored) {
        throw stopping
          ? unavailable()
          : new ServiceError('InternalFailure', 'the stop could not be recorded', 500);
      }
      return { stopDate: seconds(execution.stopDate ?? Date.now()) };
    };
    const live = executions.get(executionArn);
    if (live !== undefined) return stopLive(live);
    if (store === undefined) throw noSuchExecution(executionArn);
    return inTurn(executionArn, async () => {
      const takenUp = executions.get(executionArn);
      if (takenUp !== undefined) return stopLive(takenUp);
      const stored = await store.find(executionArn);
      if (stored === undefined) throw noSuchExecution(executionArn);
      if (stored.status !== 'RUNNING') return { stopDate: seconds(stored.stopDate ?? Date.now()) };
      // Left running by a process that stopped: stopped where its history ends, never resumed.
      const stopDate = Date.now();
      const events = await store.events(executionArn);
      const aborted: StoppedEvent = { type: 'ExecutionAborted', timestamp: stopDate, ...details };
      await store.appendEvents(executionArn, events.length + 1, [aborted]);
      await store.end(executionArn, {
        status: 'ABORTED',
        stopDate,
        output: undefined,
        error: details.error,
        cause: details.cause,
      });
      return { stopDate: seconds(stopDate) };
    });
  }

  async function resumeInterrupted(): Promise<number> {
    if (store === undefined) return 0;
    let resumed = 0;
    for (const stored of await retried(() => store.running(stateMachineArn))) {
      if (!executions.has(stored.executionArn) && (await takeUp(stored))) resumed += 1;
    }
    return resumed;
  }

  /** maxResults from 0 (the default) to 1000, and a nextToken this endpoint gave, as on AWS. */
  function pageOf(body: Record<string, unknown>, fallback: number) {
    const maxResults = body['maxResults'] ?? 0;
    if (typeof maxResults !== 'number' || !Number.isInteger(maxResults)) {
      throw new ServiceError('ValidationException', 'maxResults must be an integer');
    }
    if (maxResults < 0 || maxResults > 1000) {
      throw new ServiceError(
        'ValidationException',
        `1 validation error detected: Value '${maxResults}' at 'maxResults' failed to satisfy constraint: Member must have value between 0 and 1000`,
      );
    }
    const nextToken = body['nextToken'] ?? undefined;
    if (
      nextToken !== undefined &&
      (typeof nextToken !== 'string' || !/^\d{1,9}$/.test(nextToken))
    ) {
      throw new ServiceError('InvalidToken', 'Invalid Token');
    }
    return {
      limit: maxResults === 0 ? fallback : maxResults,
      offset: nextToken === undefined ? 0 : Number(nextToken),
    };
  }

  const operations: Record<string, (body: Record<string, unknown>) => Promise<unknown>> = {
    ListStateMachines: async () => ({
      stateMachines: [
        {
          stateMachineArn,
          name: options.stateMachineName,
          type: 'STANDARD',
          creationDate: seconds(dates.creationDate),
        },
      ],
    }),
    DescribeStateMachine: async (body) => ({
      stateMachineArn: stateMachineOf(body),
      name: options.stateMachineName,
      status: 'ACTIVE',
      definition,
      roleArn: ROLE_ARN,
      type: 'STANDARD',
      creationDate: seconds(dates.creationDate),
      ...UNCONFIGURED,
    }),
    DescribeStateMachineForExecution: async (body) => {
      const execution = await find(body);
      return {
        stateMachineArn: execution.stateMachineArn,
        name: options.stateMachineName,
        definition,
        roleArn: ROLE_ARN,
        updateDate: seconds(dates.updateDate),
        ...UNCONFIGURED,
      };
    },
    StartExecution: startExecution,
    StopExecution: stopExecution,
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
      stateMachineOf(body);
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
      const serviceError = error instanceof ServiceError ? error : unavailable();
      send(
        serviceError.status,
        { __type: serviceError.type, message: serviceError.message },
        serviceError.type,
      );
    }
  }

  const server: Server = createServer((request, response) => void handle(request, response));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    // A busy port (EADDRINUSE) is the caller's to name; the claim goes with the store.
    await store?.close().catch(() => undefined);
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
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
