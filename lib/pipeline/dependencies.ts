import type { Logger } from '@aws-lambda-powertools/logger';
import type { CheckpointStore } from '../audit/auditCheckpoints.ts';
import type { AuditMac } from '../crypto/auditMac.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { Pool } from '../db/pool.ts';
import type { EventSink } from '../events/eventSink.ts';
import type { PayloadStore } from './payloadStore.ts';

/** The ports every stage works through; built once per process (lib/runtime.ts) or by a test. */
export interface PipelineDependencies {
  readonly pool: Pool;
  readonly keyring: Keyring;
  /** Seals the audit chain: its key never sits in the database. */
  readonly auditMac: AuditMac;
  /** Signed checkpoints of the audit chain's head, kept outside the database. */
  readonly auditCheckpoints: CheckpointStore;
  /** Where the claim check's sealed payloads are kept; stage_payloads records each one. */
  readonly payloadStore: PayloadStore;
  readonly events: EventSink;
  readonly logger: Logger;
  readonly now: () => Date;
}

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
 * The port that starts the ingest state machine for a run, and tells how an execution stands:
 * Step Functions in AWS and LocalStack (lib/workflow/workflowStarter.ts), the local endpoint
 * embedded.
 */
export interface WorkflowStarter {
  /** `attempt` 0 is the run's first execution; a re-drive n is another execution, named apart. */
  start(runId: string, attempt?: number): Promise<void>;
  executionState(runId: string, attempt: number): Promise<ExecutionState>;
  /** The execution's first `maxEvents` events in order, or `undefined` when it does not exist. */
  executionHistory(
    runId: string,
    attempt: number,
    maxEvents: number,
  ): Promise<ExecutionHistory | undefined>;
}

/** The first events of an execution's history; `complete` is false when more were left unread. */
export interface ExecutionHistory {
  readonly events: readonly ExecutionEvent[];
  readonly complete: boolean;
}

/**
 * One event of an execution's history, without its input or output (a state's data is the run
 * id and counts, but the history of another machine could hold anything): what happened, when,
 * in which state, and the name of the error when one was raised.
 */
export interface ExecutionEvent {
  readonly id: number;
  readonly type: string;
  readonly timestamp: string;
  /** The state the event belongs to; null for the execution's own events. */
  readonly stateName: string | null;
  /** The error's name (`DatabaseError`, `States.Timeout`); never its cause. */
  readonly error: string | null;
}
