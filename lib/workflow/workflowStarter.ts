import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { toWorkflowError } from '../aws/errors.ts';
import type { ExecutionState, WorkflowStarter } from '../pipeline/dependencies.ts';

export function executionName(runId: string, attempt = 0): string {
  return attempt === 0 ? runId : `${runId}-redrive-${attempt}`;
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

  async executionState(runId: string, attempt: number): Promise<ExecutionState> {
    const executionArn = `${this.#stateMachineArn.replace(':stateMachine:', ':execution:')}:${executionName(runId, attempt)}`;
    try {
      const { status } = await this.#client.send(new DescribeExecutionCommand({ executionArn }));
      return status === 'PENDING_REDRIVE' || status === undefined ? 'RUNNING' : status;
    } catch (error) {
      if (error instanceof ExecutionDoesNotExist) return 'MISSING';
      throw toWorkflowError('describe the run', error);
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
      throw toWorkflowError('start the run', error);
    }
  }
}
