import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirectoryCheckpointStore } from '../../lib/audit/directoryCheckpointStore.ts';
import { DataKeyCache } from '../../lib/crypto/dataKeyCache.ts';
import { Keyring } from '../../lib/crypto/keyring.ts';
import type { KeyService } from '../../lib/crypto/keyService.ts';
import { LocalAuditMac } from '../../lib/crypto/localAuditMac.ts';
import { LocalKeyService } from '../../lib/crypto/localKeyService.ts';
import { TableEventSink } from '../../lib/events/eventSink.ts';
import type { PipelineDependencies } from '../../lib/pipeline/dependencies.ts';
import { DirectoryPayloadStore } from '../../lib/pipeline/directoryPayloadStore.ts';
import { classifyBatch } from '../../lib/pipeline/envelopes.ts';
import { acceptSubmission } from '../../lib/pipeline/intake.ts';
import type { PayloadStore } from '../../lib/pipeline/payloadStore.ts';
import { createLogger } from '../../lib/runtime.ts';
import {
  createStageHandler,
  createStageHandlers,
  type StageHandler,
  TASK_STATES,
  type TaskState,
} from '../../lib/workflow/stageHandlers.ts';
import { loadIngestDefinition } from '../../local/ingestDefinition.ts';
import { type ExecutionRecord, InProcessWorkflow } from '../../local/inProcessWorkflow.ts';
import type { TestDatabase } from './database.ts';

export interface TestPipeline {
  readonly deps: PipelineDependencies;
  readonly handlers: Readonly<Record<TaskState, StageHandler>>;
  readonly workflow: InProcessWorkflow;
  /** Accepts a flat batch as the API would, then runs it through the real ASL. */
  ingest(
    records: readonly unknown[],
    actor?: string,
  ): Promise<{ runId: string; execution: ExecutionRecord }>;
  submit(records: readonly unknown[], actor?: string): Promise<string>;
  /**
   * Accepts any body the API takes (flat, a FHIR Bundle, NDJSON), classified by the real
   * intake rules, then runs it through the real ASL.
   */
  ingestBody(
    body: string,
    contentType: string,
    actor?: string,
  ): Promise<{ runId: string; execution: ExecutionRecord }>;
}

export interface TestPipelineOptions {
  readonly keyService?: KeyService;
  readonly logLevel?: 'DEBUG' | 'INFO' | 'SILENT';
  /**
   * Gives each Task state a Keyring and key cache of its own, as separate Lambda functions
   * have: every stage of a run starts cold. By default all share `deps.keyring`.
   */
  readonly keyringPerTask?: boolean;
  /** Where payloads are kept; by default a directory of this pipeline's own. */
  readonly payloadStore?: PayloadStore;
}

export function createTestPipeline(
  database: TestDatabase,
  options: TestPipelineOptions = {},
): TestPipeline {
  const keyService = options.keyService ?? new LocalKeyService(randomBytes(32));
  const newKeyring = () =>
    new Keyring(keyService, new DataKeyCache({ maxAgeMs: 60_000, maxUses: 1_000 }));
  const deps: PipelineDependencies = {
    pool: database.pool,
    keyring: newKeyring(),
    auditMac: new LocalAuditMac(randomBytes(32)),
    auditCheckpoints: new DirectoryCheckpointStore(
      join(tmpdir(), `audit-checkpoints-${randomBytes(6).toString('hex')}`),
    ),
    payloadStore:
      options.payloadStore ??
      new DirectoryPayloadStore(join(tmpdir(), `payloads-${randomBytes(6).toString('hex')}`)),
    events: new TableEventSink(database.pool),
    logger: createLogger({ logLevel: options.logLevel ?? 'SILENT' }),
    now: () => new Date(),
  };
  const handlers =
    options.keyringPerTask === true
      ? (Object.fromEntries(
          TASK_STATES.map((state) => {
            const taskDeps: PipelineDependencies = { ...deps, keyring: newKeyring() };
            return [state, createStageHandler(state, () => taskDeps)];
          }),
        ) as Record<TaskState, StageHandler>)
      : createStageHandlers(() => deps);
  const workflow = new InProcessWorkflow(handlers, { retryIntervalMs: 0 });
  const submitBody = async (body: string, contentType: string, actor = 'system:test-feed') => {
    const { format, recordCount } = classifyBatch(body, contentType, 100_000);
    const { runId } = await acceptSubmission(deps, {
      body,
      contentType,
      format,
      recordCount,
      actor,
      source: 'test',
    });
    return runId;
  };
  const submit = (records: readonly unknown[], actor?: string) =>
    submitBody(JSON.stringify({ records }), 'application/json', actor);
  return {
    deps,
    handlers,
    workflow,
    submit,
    ingest: async (records, actor) => {
      const runId = await submit(records, actor);
      return { runId, execution: await workflow.execute(runId) };
    },
    ingestBody: async (body, contentType, actor) => {
      const runId = await submitBody(body, contentType, actor);
      return { runId, execution: await workflow.execute(runId) };
    },
  };
}

/**
 * A pipeline over a database from `useTestDatabase`, built on first use after each new
 * database: declared beside it in a describe, used in its tests.
 */
export function useTestPipeline(
  database: TestDatabase,
  options: TestPipelineOptions = {},
): TestPipeline {
  let built: { readonly pool: TestDatabase['pool']; readonly pipeline: TestPipeline } | undefined;
  const current = (): TestPipeline => {
    if (built?.pool !== database.pool) {
      built = { pool: database.pool, pipeline: createTestPipeline(database, options) };
    }
    return built.pipeline;
  };
  return {
    get deps() {
      return current().deps;
    },
    get handlers() {
      return current().handlers;
    },
    get workflow() {
      return current().workflow;
    },
    ingest: (records, actor) => current().ingest(records, actor),
    submit: (records, actor) => current().submit(records, actor),
    ingestBody: (body, contentType, actor) => current().ingestBody(body, contentType, actor),
  };
}

/**
 * A run's committed payloads as stored, each still sealed: its row's ciphertext, or the object
 * its row names, read from the pipeline's payload store (undefined when the object is gone).
 */
export async function sealedPayloads(
  deps: Pick<PipelineDependencies, 'pool' | 'payloadStore'>,
  runId: string,
): Promise<Array<{ stage: string; sealed: Buffer | undefined }>> {
  const { rows } = await deps.pool.query<{
    stage: string;
    ciphertext: Buffer | null;
    location: string | null;
  }>('SELECT stage, ciphertext, location FROM stage_payloads WHERE run_id = $1 ORDER BY stage', [
    runId,
  ]);
  return Promise.all(
    rows.map(async (row) => ({
      stage: row.stage,
      sealed: row.ciphertext ?? (await deps.payloadStore.get(row.location ?? '')),
    })),
  );
}

/** A flat record like DESIGN.md's, with overrides. */
export function flatRecord(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resourceType: 'Patient',
    mrn: 'MRN-001',
    name: 'Jane Doe',
    birthDate: '1990-01-15',
    gender: 'female',
    ssn: '123-45-6789',
    consent: { data_sharing: true, research: false },
    ...overrides,
  };
}

/** The ASL's MaxAttempts for the transient errors of one Task state: what a test expects. */
export function transientMaxAttempts(state: TaskState): number {
  const definition = loadIngestDefinition() as unknown as {
    States: Record<string, { Retry?: Array<{ ErrorEquals: string[]; MaxAttempts?: number }> }>;
  };
  const retrier = definition.States[state]?.Retry?.find((retry) =>
    retry.ErrorEquals.includes('TransientDatabaseError'),
  );
  if (retrier?.MaxAttempts === undefined) throw new Error(`${state} has no transient retrier`);
  return retrier.MaxAttempts;
}
