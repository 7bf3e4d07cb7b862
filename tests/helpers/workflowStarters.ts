import type {
  ExecutionEvent,
  ExecutionHistory,
  ExecutionState,
  WorkflowStarter,
} from '../../lib/pipeline/dependencies.ts';
import { executionName } from '../../lib/workflow/workflowStarter.ts';

/**
 * The workflow port as a fake: remembers every start, and starts nothing. An execution it
 * started is RUNNING, any other MISSING, unless a test set its state; its history is what a
 * test set, else empty for an execution it started; it counts history reads in progress.
 */
export class RecordingStarter implements WorkflowStarter {
  readonly calls: Array<{ readonly runId: string; readonly attempt: number }> = [];
  /** Execution states by execution name, as a test sets them. */
  readonly states = new Map<string, ExecutionState>();
  /** Execution histories by execution name, as a test sets them. */
  readonly histories = new Map<string, readonly ExecutionEvent[]>();
  /** Every history read, in order. */
  readonly historyReads: Array<{ readonly runId: string; readonly attempt: number }> = [];
  /** The most history reads that were in progress at the same time. */
  mostHistoriesReadAtOnce = 0;
  #historiesReading = 0;

  async start(runId: string, attempt = 0): Promise<void> {
    this.calls.push({ runId, attempt });
  }

  async executionState(runId: string, attempt: number): Promise<ExecutionState> {
    const set = this.states.get(executionName(runId, attempt));
    if (set !== undefined) return set;
    const started = this.calls.some((call) => call.runId === runId && call.attempt === attempt);
    return started ? 'RUNNING' : 'MISSING';
  }

  async executionHistory(
    runId: string,
    attempt: number,
    maxEvents: number,
  ): Promise<ExecutionHistory | undefined> {
    this.historyReads.push({ runId, attempt });
    this.#historiesReading += 1;
    this.mostHistoriesReadAtOnce = Math.max(this.mostHistoriesReadAtOnce, this.#historiesReading);
    try {
      await new Promise((resolve) => setImmediate(resolve));
      const set = this.histories.get(executionName(runId, attempt));
      if (set !== undefined) {
        return { events: set.slice(0, maxEvents), complete: set.length <= maxEvents };
      }
      const started = this.calls.some((call) => call.runId === runId && call.attempt === attempt);
      return started ? { events: [], complete: true } : undefined;
    } finally {
      this.#historiesReading -= 1;
    }
  }
}
