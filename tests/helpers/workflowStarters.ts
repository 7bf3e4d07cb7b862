import type { WorkflowStarter } from '../../lib/workflow/workflowStarter.ts';

/** The workflow port as a fake: remembers every start, and starts nothing. */
export class RecordingStarter implements WorkflowStarter {
  readonly calls: Array<{ readonly runId: string; readonly attempt: number }> = [];

  async start(runId: string, attempt = 0): Promise<void> {
    this.calls.push({ runId, attempt });
  }
}
