import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { ExecutionError, StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import type { RunOutcome } from '../pipeline/stages.ts';
import { loadIngestDefinition } from './ingestDefinition.ts';
import { type StageHandler, TASK_STATES, type TaskState } from './stageHandlers.ts';

type JsonValue = Parameters<StateMachine['run']>[0];
export type ExecutionEvent =
  ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

export interface ExecutionRecord {
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly output: RunOutcome | undefined;
  /** The error the execution failed with (a Fail state's Error and Cause). */
  readonly error: { readonly name: string; readonly message: string } | undefined;
  /** Every event the interpreter emitted: state inputs and outputs included. */
  readonly events: readonly ExecutionEvent[];
}

export interface InProcessWorkflowOptions {
  /** Milliseconds between retries, overriding the ASL's backoff (tests set 0). */
  readonly retryIntervalMs?: number;
  readonly definition?: StateMachineDefinition;
}

function lambdaContext(functionName: string): Context {
  const requestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: requestId,
    getRemainingTimeInMillis: () => 300_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * Runs statemachine/ingest.asl.json with aws-local-stepfunctions in this process, each Task
 * state overridden by its stage handler: the real definition, Retry and Catch included.
 */
export class InProcessWorkflow {
  readonly #machine: StateMachine;
  readonly #handlers: Readonly<Record<TaskState, StageHandler>>;
  readonly #retryIntervalMs: number | undefined;

  constructor(
    handlers: Readonly<Record<TaskState, StageHandler>>,
    options: InProcessWorkflowOptions = {},
  ) {
    // Resources are ${...}FunctionArn placeholders: asl-validator accepts those as substitutions.
    this.#machine = new StateMachine(options.definition ?? loadIngestDefinition());
    this.#handlers = handlers;
    this.#retryIntervalMs = options.retryIntervalMs;
  }

  async execute(runId: string): Promise<ExecutionRecord> {
    const taskResourceLocalHandlers = Object.fromEntries(
      TASK_STATES.map((state) => [
        state,
        async (input: JsonValue) =>
          (await this.#handlers[state](input, lambdaContext(state))) as unknown as JsonValue,
      ]),
    );
    const retryIntervalOverrides =
      this.#retryIntervalMs === undefined
        ? undefined
        : Object.fromEntries(TASK_STATES.map((state) => [state, this.#retryIntervalMs as number]));
    const execution = this.#machine.run(
      { runId },
      {
        overrides: {
          taskResourceLocalHandlers,
          ...(retryIntervalOverrides === undefined ? {} : { retryIntervalOverrides }),
        },
      },
    );
    const events: ExecutionEvent[] = [];
    const collecting = (async () => {
      for await (const event of execution.eventLogs) events.push(event);
    })();
    try {
      const output = (await execution.result) as unknown as RunOutcome;
      await collecting;
      return { status: 'SUCCEEDED', output, error: undefined, events };
    } catch (error) {
      await collecting;
      if (!(error instanceof ExecutionError)) throw error;
      const cause = error.cause instanceof Error ? error.cause : error;
      return {
        status: 'FAILED',
        output: undefined,
        error: { name: cause.name, message: cause.message },
        events,
      };
    }
  }
}
