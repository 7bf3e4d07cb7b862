import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';

/** Does a Task state's work: its output for this input, or the error the state fails with. */
export type TaskInvoker = (stateName: string, input: unknown) => Promise<unknown>;

type JsonValue = Parameters<StateMachine['run']>[0];
/** An event of the interpreter's log: state inputs and outputs included. */
export type ExecutionEvent =
  ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

/** How an execution ended: its output, or what the interpreter's result was rejected with. */
export type ExecutionEnd =
  | { readonly status: 'SUCCEEDED'; readonly output: unknown }
  | { readonly status: 'FAILED'; readonly error: unknown };

export interface LocalExecution {
  /** Settles once the execution has ended and `onEvent` has seen every one of its events. */
  readonly ended: Promise<ExecutionEnd>;
  readonly abort: () => void;
}

export interface LocalRunOptions {
  readonly invokeTask: TaskInvoker;
  /** Milliseconds between task retries, overriding the ASL's backoff (tests set 0). */
  readonly retryIntervalMs?: number | undefined;
  /** Each event, in the order the interpreter emits them. */
  readonly onEvent: (event: ExecutionEvent) => void;
}

/**
 * An ASL definition run in this process by aws-local-stepfunctions, each Task state's work done
 * by the caller's `invokeTask`: the definition's own Retry and Catch, and no AWS call. The
 * in-process workflow of the tests and the bench, and the local Step Functions endpoint, both
 * run executions through it.
 */
export class LocalStateMachine {
  readonly #machine: StateMachine;
  readonly #taskStates: readonly string[];

  constructor(definition: StateMachineDefinition) {
    // Resources are ${...}FunctionArn placeholders: asl-validator accepts those as substitutions.
    this.#machine = new StateMachine(definition);
    this.#taskStates = Object.entries(definition.States)
      .filter(([, state]) => state.Type === 'Task')
      .map(([name]) => name);
  }

  run(input: unknown, options: LocalRunOptions): LocalExecution {
    const taskResourceLocalHandlers = Object.fromEntries(
      this.#taskStates.map((state) => [
        state,
        async (taskInput: JsonValue) => (await options.invokeTask(state, taskInput)) as JsonValue,
      ]),
    );
    const { retryIntervalMs } = options;
    const execution = this.#machine.run(input as JsonValue, {
      overrides: {
        taskResourceLocalHandlers,
        ...(retryIntervalMs === undefined
          ? {}
          : {
              retryIntervalOverrides: Object.fromEntries(
                this.#taskStates.map((state) => [state, retryIntervalMs]),
              ),
            }),
      },
    });
    const collecting = (async () => {
      for await (const event of execution.eventLogs) options.onEvent(event);
    })();
    const ended = execution.result.then(
      async (output): Promise<ExecutionEnd> => {
        await collecting;
        return { status: 'SUCCEEDED', output };
      },
      async (error: unknown): Promise<ExecutionEnd> => {
        await collecting;
        return { status: 'FAILED', error };
      },
    );
    return { ended, abort: execution.abort };
  }
}
