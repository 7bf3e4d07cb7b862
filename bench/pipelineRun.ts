/**
 * One benchmark run: the synthetic batches through the real pipeline (intake as the API does
 * it, then statemachine/ingest.asl.json in aws-local-stepfunctions with the real stage
 * handlers), each Task state with a key cache of its own as a separate Lambda function has,
 * all behind one key service that counts its calls. Then the COPY baseline of what it stored.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { DataKeyCache } from '../lib/crypto/dataKeyCache.ts';
import { Keyring } from '../lib/crypto/keyring.ts';
import { LocalKeyService } from '../lib/crypto/localKeyService.ts';
import { TableEventSink } from '../lib/events/eventSink.ts';
import type { PipelineDependencies } from '../lib/pipeline/dependencies.ts';
import { classifyBatch } from '../lib/pipeline/envelopes.ts';
import { acceptSubmission } from '../lib/pipeline/intake.ts';
import { STAGES, type StageName } from '../lib/pipeline/stages.ts';
import { createLogger } from '../lib/runtime.ts';
import {
  createStageHandler,
  type StageHandler,
  TASK_STATES,
  type TaskState,
} from '../lib/workflow/stageHandlers.ts';
import { CountingKeyService } from '../local/countingKeyService.ts';
import { InProcessWorkflow } from '../local/inProcessWorkflow.ts';
import {
  type CopyFigures,
  constrainedCopyBaseline,
  copyBaseline,
  exportStored,
  STORED_TABLES,
  type TableFigures,
  tableFigures,
  walBytesSince,
  walPosition,
} from './copyBaseline.ts';
import type { BenchServer } from './database.ts';
import { type CpuFigures, startCpuCount } from './processCpu.ts';
import { batchRuns } from './synthetic.ts';

/** The target: end-to-end records/s at least this share of COPY's. */
export const TARGET_RATIO = 0.5;

export interface RunOptions {
  readonly patients: number;
  readonly batchSize: number;
  readonly concurrency: number;
  readonly observations: number;
}

export interface RunFigures {
  readonly options: RunOptions;
  /** Input records: patients and observations. */
  readonly records: number;
  readonly runs: number;
  readonly failedRuns: number;
  readonly pipelineMs: number;
  readonly recordsPerSecond: number;
  readonly copy: CopyFigures;
  readonly copyRecordsPerSecond: number;
  /** End to end over COPY: 1 would be the physical limit. */
  readonly ratio: number;
  /** COPY of the same rows into the real tables of a fresh database, constraints and triggers on. */
  readonly constrainedCopy: CopyFigures;
  readonly constrainedCopyRecordsPerSecond: number;
  /** End to end over the constrained COPY: 1 would be all a pipeline can do with this schema. */
  readonly constrainedRatio: number;
  /**
   * The CPU a pipeline at the target ratio to COPY could spend: every core of this machine for
   * COPY's time divided by the target, the server's work included.
   */
  readonly cpuAtTargetMs: number;
  /** CPU time while the pipeline ran: this process's, and the server's when it runs here. */
  readonly cpuMs: CpuFigures;
  /** Milliseconds summed over runs: intake, each stage, and the rest (interpreter, Publish). */
  readonly timeMs: Readonly<Record<'intake' | StageName | 'other', number>>;
  readonly keyServiceCalls: {
    readonly total: number;
    /** Calls bound to a run (its encryption context names it): mean and most over the runs. */
    readonly perRun: number;
    readonly maxPerRun: number;
    /** Calls bound to no run (the blind-index key, once per key cache). */
    readonly shared: number;
  };
  readonly stored: readonly TableFigures[];
  readonly storedRows: number;
  readonly walBytes: number;
  readonly outcomes: Readonly<Record<string, number>>;
  /** The most resident memory sampled while the pipeline ran (not the COPY baseline's buffers). */
  readonly pipelinePeakRssBytes: number;
  /**
   * Per Task state, the most memory one invocation added while it ran: JavaScript heap plus
   * Buffers, sampled, over what was in use when it started (garbage included, so an upper
   * bound). Exact only at concurrency 1, when one state runs at a time.
   */
  readonly peakGrowthByStateBytes: Readonly<Record<string, number>>;
}

function stageDependencies(
  base: Omit<PipelineDependencies, 'keyring'>,
  keyService: CountingKeyService,
): PipelineDependencies {
  return {
    ...base,
    // Each Lambda function has a cache of its own, sized as lib/config.ts's defaults.
    keyring: new Keyring(keyService, new DataKeyCache({ maxAgeMs: 300_000, maxUses: 10_000 })),
  };
}

export async function benchmarkRun(server: BenchServer, options: RunOptions): Promise<RunFigures> {
  const database = await server.database(options.concurrency * 3 + 2);
  try {
    const keyService = new CountingKeyService(new LocalKeyService(randomBytes(32)));
    const base = {
      pool: database.pool,
      events: new TableEventSink(database.pool),
      logger: createLogger({ logLevel: 'SILENT' }),
      now: () => new Date(),
    };
    const intake = stageDependencies(base, keyService);
    const inUse = () => {
      const { heapUsed, external } = process.memoryUsage();
      return heapUsed + external;
    };
    /** Each running state's memory in use when it started, and the most seen since. */
    const running = new Map<TaskState, { start: number; peak: number }>();
    const peakGrowthByState: Record<string, number> = {};
    const handlers = Object.fromEntries(
      TASK_STATES.map((state) => {
        const deps = stageDependencies(base, keyService);
        const handler = createStageHandler(state, () => deps);
        const measured = async (event: unknown, context: Parameters<StageHandler>[1]) => {
          const start = inUse();
          running.set(state, { start, peak: start });
          try {
            return await handler(event, context);
          } finally {
            const { peak } = running.get(state) ?? { peak: start };
            running.delete(state);
            peakGrowthByState[state] = Math.max(peakGrowthByState[state] ?? 0, peak - start);
          }
        };
        return [state, measured];
      }),
    ) as unknown as Record<TaskState, StageHandler>;
    const workflow = new InProcessWorkflow(handlers);

    const batches = Math.ceil(options.patients / options.batchSize);
    const outcomes: Record<string, number> = {};
    let runs = 0;
    let records = 0;
    let failedRuns = 0;
    let intakeMs = 0;
    let executionMs = 0;

    let pipelinePeakRssBytes = process.memoryUsage.rss();
    const sampler = setInterval(() => {
      pipelinePeakRssBytes = Math.max(pipelinePeakRssBytes, process.memoryUsage.rss());
      if (running.size === 0) return;
      const used = inUse();
      for (const sample of running.values()) sample.peak = Math.max(sample.peak, used);
    }, 10);
    const walFrom = await walPosition(database.pool);
    const cpuSpent = await startCpuCount(database.pool);
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        for (let batch = next++; batch < batches; batch = next++) {
          // A batch's Observations name its patients, so they follow its patient run.
          for (const run of batchRuns(batch, options)) {
            const submitted = performance.now();
            const { format, recordCount } = classifyBatch(run.body, run.contentType, run.records);
            const { runId } = await acceptSubmission(intake, {
              body: run.body,
              contentType: run.contentType,
              format,
              recordCount,
              actor: 'system:bench',
              source: 'bench',
            });
            const accepted = performance.now();
            const execution = await workflow.execute(runId);
            executionMs += performance.now() - accepted;
            intakeMs += accepted - submitted;
            records += run.records;
            runs += 1;
            if (execution.status !== 'SUCCEEDED' || execution.output?.status !== 'succeeded') {
              failedRuns += 1;
            }
          }
        }
      }),
    );
    const pipelineMs = performance.now() - started;
    const cpuMs = cpuSpent();
    clearInterval(sampler);
    const walBytes = await walBytesSince(database.pool, walFrom);

    const { rows: timings } = await database.pool.query<{ stage: StageName; ms: string }>(
      `SELECT key AS stage, sum(value::numeric) AS ms
       FROM ingest_runs, jsonb_each_text(stage_timings) GROUP BY key`,
    );
    const stageMs = Object.fromEntries(STAGES.map((stage) => [stage, 0])) as Record<
      StageName,
      number
    >;
    for (const { stage, ms } of timings) stageMs[stage] = Number(ms);
    const inStages = STAGES.reduce((sum, stage) => sum + stageMs[stage], 0);

    const { rows: reasons } = await database.pool.query<{ reason: string; n: string }>(
      'SELECT reason, count(*) AS n FROM rejections GROUP BY reason ORDER BY reason',
    );
    for (const { reason, n } of reasons) outcomes[`rejected: ${reason}`] = Number(n);
    const stored = await tableFigures(database.pool, 'public', STORED_TABLES);
    const rowsOf = (table: string) => stored.find((figure) => figure.table === table)?.rows ?? 0;
    outcomes['patients stored'] = rowsOf('patients');
    outcomes['observations stored'] = rowsOf('observations');
    outcomes['audit rows'] = rowsOf('audit_log');

    const callsByRun = new Map<string, number>();
    let shared = 0;
    for (const { context } of keyService.calls) {
      const runId = context['runId'];
      if (runId === undefined) shared += 1;
      else callsByRun.set(runId, (callsByRun.get(runId) ?? 0) + 1);
    }

    const exported = await exportStored(database.pool);
    const copy = await copyBaseline(database.pool, exported, options.concurrency);
    const target = await server.database(options.concurrency + 1);
    let constrainedCopy: CopyFigures;
    try {
      constrainedCopy = await constrainedCopyBaseline(target.pool, exported, options.concurrency);
    } finally {
      await target.drop();
    }
    const recordsPerSecond = records / (pipelineMs / 1000);
    const copyRecordsPerSecond = records / (copy.ms / 1000);
    const constrainedCopyRecordsPerSecond = records / (constrainedCopy.ms / 1000);
    return {
      options,
      records,
      runs,
      failedRuns,
      pipelineMs,
      recordsPerSecond,
      copy,
      copyRecordsPerSecond,
      ratio: recordsPerSecond / copyRecordsPerSecond,
      constrainedCopy,
      constrainedCopyRecordsPerSecond,
      constrainedRatio: recordsPerSecond / constrainedCopyRecordsPerSecond,
      cpuAtTargetMs: (availableParallelism() * copy.ms) / TARGET_RATIO,
      cpuMs,
      timeMs: {
        intake: intakeMs,
        ...stageMs,
        other: Math.max(0, executionMs - inStages),
      },
      keyServiceCalls: {
        total: keyService.calls.length,
        perRun: (keyService.calls.length - shared) / runs,
        maxPerRun: Math.max(0, ...callsByRun.values()),
        shared,
      },
      stored,
      storedRows: stored.reduce((sum, figure) => sum + figure.rows, 0),
      walBytes,
      outcomes,
      pipelinePeakRssBytes,
      peakGrowthByStateBytes: peakGrowthByState,
    };
  } finally {
    await database.drop();
  }
}
