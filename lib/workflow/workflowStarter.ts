import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { ServiceUnavailableError } from '../errors.ts';

/**
 * How a run's execution stands: Step Functions' own statuses (PENDING_REDRIVE counts as
 * RUNNING), or MISSING when the workflow service has no such execution.
 */
export type ExecutionState =
  | 'RUNNING'
  | 'SUCCEEDED'
  | 'FAILED'
  | 'TIMED_OUT'
  | 'ABORTED'
  | 'MISSING';

/**
 * Starts the ingest state machine for a run, and tells how an execution stands: Step Functions
 * in AWS and LocalStack, the local endpoint embedded.
 */
export interface WorkflowStarter {
  /** `attempt` 0 is the run's first execution; a re-drive n is another execution, named apart. */
  start(runId: string, attempt?: number): Promise<void>;
  executionState(runId: string, attempt: number): Promise<ExecutionState>;
}

export function executionName(runId: string, attempt = 0): string {
  return attempt === 0 ? runId : `${runId}-redrive-${attempt}`;
}

export interface SfnWorkflowStarterOptions {
  readonly client: SFNClient;
  readonly stateMachineArn: string;
}

export class SfnWorkflowStarter implements WorkflowStarter {
  readonly #client: SFNClient;
  readonly #stateMachineArn: string;

  constructor(options: SfnWorkflowStarterOptions) {
    this.#client = options.client;
    this.#stateMachineArn = options.stateMachineArn;
  }

  async executionState(runId: string, attempt: number): Promise<ExecutionState> {
    const executionArn = `${this.#stateMachineArn.replace(':stateMachine:', ':execution:')}:${executionName(runId, attempt)}`;
    try {
      const { status } = await this.#client.send(new DescribeExecutionCommand({ executionArn }));
      return status === 'PENDING_REDRIVE' || status === undefined ? 'RUNNING' : status;
    } catch (error) {
      if (error instanceof ExecutionDoesNotExist) return 'MISSING';
      throw new ServiceUnavailableError('the workflow service did not describe the run', {
        cause: error,
      });
    }
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
      throw new ServiceUnavailableError('the workflow service did not start the run', {
        cause: error,
      });
    }
  }
}

export function createSfnClient(options: {
  endpoint: string | undefined;
  region: string | undefined;
}): SFNClient {
  return new SFNClient({
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.region === undefined ? {} : { region: options.region }),
  });
}
