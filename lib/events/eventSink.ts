import type { Pool } from '../db/pool.ts';
import { insertPipelineEvent } from '../db/repositories/pipelineEvents.ts';

/** A run's outcome as the outside world hears of it: identifiers and counts only. */
export interface RunOutcomeEvent {
  readonly type: 'ingest.run.succeeded' | 'ingest.run.failed';
  readonly runId: string;
  /** 0 for the first execution, n for the n-th re-drive. */
  readonly attempt: number;
  readonly status: 'succeeded' | 'failed';
  readonly counts: Readonly<Record<string, number>>;
  readonly errorCode: string | null;
  readonly occurredAt: string;
}

export interface EventSink {
  /** At-least-once: a consumer deduplicates on (runId, type, attempt). */
  publish(event: RunOutcomeEvent): Promise<void>;
}

/** The embedded stack's sink: events kept in the pipeline_events table. */
export class TableEventSink implements EventSink {
  readonly #pool: Pool;

  constructor(pool: Pool) {
    this.#pool = pool;
  }

  async publish(event: RunOutcomeEvent): Promise<void> {
    await insertPipelineEvent(this.#pool, {
      runId: event.runId,
      type: event.type,
      attempt: event.attempt,
      body: { ...event },
    });
  }
}
