import type { ExecutionState, WorkflowStarter } from '../../lib/pipeline/dependencies.ts';
import { executionName } from '../../lib/workflow/workflowStarter.ts';

/**
 * The workflow port as a fake: remembers every start, and starts nothing. An execution it
 * started is RUNNING, any other MISSING, unless a test set its state.
 */
export class RecordingStarter implements WorkflowStarter {
  readonly calls: Array<{ readonly runId: string; readonly attempt: number }> = [];
  /** Execution states by execution name, as a test sets them. */
  readonly states = new Map<string, ExecutionState>();

  async start(runId: string, attempt = 0): Promise<void> {
    this.calls.push({ runId, attempt });
  }

  async executionState(runId: string, attempt: number): Promise<ExecutionState> {
    const set = this.states.get(executionName(runId, attempt));
    if (set !== undefined) return set;
    const started = this.calls.some((call) => call.runId === runId && call.attempt === attempt);
    return started ? 'RUNNING' : 'MISSING';
  }
}
