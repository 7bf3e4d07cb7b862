import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { toWorkflowError } from '../aws/errors.ts';
import { displayableErrorName } from '../errors.ts';
import type {
  ExecutionEvent,
  ExecutionHistory,
  ExecutionState,
  WorkflowStarter,
} from '../pipeline/dependencies.ts';

const HISTORY_PAGE_SIZE = 1000;

export function executionName(runId: string, attempt = 0): string {
  return attempt === 0 ? runId : `${runId}-redrive-${attempt}`;
}

/**
 * The error name an event's details carry (`taskFailedEventDetails.error`, ...), if any; any
 * caller of StopExecution may put free text there, so only an identifier is passed on.
 */
function errorNameOf(event: HistoryEvent): string | null {
  for (const [key, details] of Object.entries(event)) {
    if (!key.endsWith('EventDetails') || typeof details !== 'object' || details === null) continue;
    const error: unknown = (details as Record<string, unknown>)['error'];
    if (typeof error === 'string') return displayableErrorName(error);
  }
  return null;
}

/**
 * Step Functions' history as ExecutionEvents: names, times, states and error names, never an
 * input, an output or an error's cause. Events between a state's entry and exit (a task
 * scheduled, failed) belong to that state.
 */
export function executionEvents(history: readonly HistoryEvent[]): ExecutionEvent[] {
  let inState: string | null = null;
  return history.map((event) => {
    const entered = event.stateEnteredEventDetails?.name;
    const exited = event.stateExitedEventDetails?.name;
    if (entered !== undefined) inState = entered;
    const stateName = entered ?? exited ?? (event.type?.startsWith('Execution') ? null : inState);
    if (exited !== undefined) inState = null;
    return {
      id: event.id ?? 0,
      type: event.type ?? 'Unknown',
      timestamp: (event.timestamp ?? new Date(0)).toISOString(),
      stateName,
      error: errorNameOf(event),
    };
  });
}

export interface SfnWorkflowStarterOptions {
  readonly client: SFNClient;
  readonly stateMachineArn: string;
}

/** The workflow port on Step Functions: AWS, LocalStack, and the local endpoint embedded. */
export class SfnWorkflowStarter implements WorkflowStarter {
  readonly #client: SFNClient;
  readonly #stateMachineArn: string;

  constructor(options: SfnWorkflowStarterOptions) {
    this.#client = options.client;
    this.#stateMachineArn = options.stateMachineArn;
  }

  #executionArn(runId: string, attempt: number): string {
    return `${this.#stateMachineArn.replace(':stateMachine:', ':execution:')}:${executionName(runId, attempt)}`;
  }

  async executionState(runId: string, attempt: number): Promise<ExecutionState> {
    const executionArn = this.#executionArn(runId, attempt);
    try {
      const { status } = await this.#client.send(new DescribeExecutionCommand({ executionArn }));
      return status === 'PENDING_REDRIVE' || status === undefined ? 'RUNNING' : status;
    } catch (error) {
      if (error instanceof ExecutionDoesNotExist) return 'MISSING';
      throw toWorkflowError('describe the run', error);
    }
  }

  async executionHistory(
    runId: string,
    attempt: number,
    maxEvents: number,
  ): Promise<ExecutionHistory | undefined> {
    const executionArn = this.#executionArn(runId, attempt);
    const history: HistoryEvent[] = [];
    let nextToken: string | undefined;
    try {
      do {
        const page = await this.#client.send(
          new GetExecutionHistoryCommand({
            executionArn,
            maxResults: Math.min(HISTORY_PAGE_SIZE, maxEvents - history.length),
            includeExecutionData: false,
            ...(nextToken === undefined ? {} : { nextToken }),
          }),
        );
        history.push(...(page.events ?? []));
        nextToken = page.nextToken;
      } while (nextToken !== undefined && history.length < maxEvents);
    } catch (error) {
      if (error instanceof ExecutionDoesNotExist) return undefined;
      throw toWorkflowError('read the run history', error);
    }
    return {
      events: executionEvents(history.slice(0, maxEvents)),
      complete: nextToken === undefined && history.length <= maxEvents,
    };
  }

  async start(runId: string, attempt = 0): Promise<void> {
    try {
      // The execution is named after the run: a repeated start cannot run the same batch twice.
      await this.#client.send(
        new StartExecutionCommand({
          stateMachineArn: this.#stateMachineArn,
          name: executionName(runId, attempt),
          input: JSON.stringify({ runId }),
        }),
      );
    } catch (error) {
      if (error instanceof ExecutionAlreadyExists) return;
      throw toWorkflowError('start the run', error);
    }
  }
}
