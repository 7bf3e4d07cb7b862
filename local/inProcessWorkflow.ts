import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { ExecutionError, type StateMachineDefinition } from 'aws-local-stepfunctions';
import type { RunOutcome } from '../lib/pipeline/stages.ts';
import type { StageHandler, TaskState } from '../lib/workflow/stageHandlers.ts';
import { loadIngestDefinition } from './ingestDefinition.ts';
import { type ExecutionEvent, LocalStateMachine } from './localStateMachine.ts';

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
  readonly #machine: LocalStateMachine;
  readonly #handlers: Readonly<Record<TaskState, StageHandler>>;
  readonly #retryIntervalMs: number | undefined;

  constructor(
    handlers: Readonly<Record<TaskState, StageHandler>>,
    options: InProcessWorkflowOptions = {},
  ) {
    this.#machine = new LocalStateMachine(options.definition ?? loadIngestDefinition());
    this.#handlers = handlers;
    this.#retryIntervalMs = options.retryIntervalMs;
  }

  async execute(runId: string): Promise<ExecutionRecord> {
    const events: ExecutionEvent[] = [];
    const end = await this.#machine.run(
      { runId },
      {
        invokeTask: (state, input) =>
          this.#handlers[state as TaskState](input, lambdaContext(state)),
        retryIntervalMs: this.#retryIntervalMs,
        onEvent: (event) => events.push(event),
      },
    ).ended;
    if (end.status === 'SUCCEEDED') {
      return { status: 'SUCCEEDED', output: end.output as RunOutcome, error: undefined, events };
    }
    if (!(end.error instanceof ExecutionError)) throw end.error;
    const cause = end.error.cause instanceof Error ? end.error.cause : end.error;
    return {
      status: 'FAILED',
      output: undefined,
      error: { name: cause.name, message: cause.message },
      events,
    };
  }
}
