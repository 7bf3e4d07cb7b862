/**
 * One benchmark run: the synthetic batches through the real pipeline (intake as the API does
 * it, then statemachine/ingest.asl.json in aws-local-stepfunctions with the real stage
 * handlers), each Task state with a key cache of its own as a separate Lambda function has,
 * all behind one key service that counts its calls. Then the COPY baseline of what it stored.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirectoryCheckpointStore } from '../lib/audit/directoryCheckpointStore.ts';
import { DataKeyCache } from '../lib/crypto/dataKeyCache.ts';
import { Keyring } from '../lib/crypto/keyring.ts';
import { LocalAuditMac } from '../lib/crypto/localAuditMac.ts';
import { LocalKeyService } from '../lib/crypto/localKeyService.ts';
import { TableEventSink } from '../lib/events/eventSink.ts';
import type { PipelineDependencies } from '../lib/pipeline/dependencies.ts';
import { DirectoryPayloadStore } from '../lib/pipeline/directoryPayloadStore.ts';
import { classifyBatch } from '../lib/pipeline/envelopes.ts';
import { acceptSubmission } from '../lib/pipeline/intake.ts';
import { PostgresPayloadStore } from '../lib/pipeline/payloadStore.ts';
import { STAGES, type StageName } from '../lib/pipeline/stages.ts';
import { createLogger } from '../lib/runtime.ts';
import {
  createStageHandler,
  type StageHandler,
  TASK_STATES,
  type TaskState,
} from '../lib/workflow/stageHandlers.ts';
import { CountingAuditMac } from '../local/countingAuditMac.ts';
import { CountingKeyService } from '../local/countingKeyService.ts';
import { InProcessWorkflow } from '../local/inProcessWorkflow.ts';
import {
  type ConstrainedCopyFigures,
  type CopyFigures,
  constrainedCopyBaseline,
  copyBaseline,
  exportStored,
  storedTables,
  type TableFigures,
  tableFigures,
  uncopiedTables,
  walBytesSince,
  walPosition,
} from './copyBaseline.ts';
import type { BenchServer } from './database.ts';
import { type CpuFigures, startCpuCount } from './processCpu.ts';
import { type StatementSummary, summariseStatements } from './report.ts';
import { batchRuns } from './synthetic.ts';

/** The target: end-to-end records/s at least this share of COPY's. */
export const TARGET_RATIO = 0.5;

/** Where the claim-check payloads go: `stage_payloads` itself, or a directory (the embedded default). */
export type PayloadStoreKind = 'postgres' | 'directory';
export const PAYLOAD_STORE_KINDS: readonly PayloadStoreKind[] = ['postgres', 'directory'];

export interface RunOptions {
  readonly patients: number;
  readonly batchSize: number;
  readonly concurrency: number;
  readonly observations: number;
  readonly payloads: PayloadStoreKind;
}

/** One run's input: a body as the API receives it. */
export interface RunInput {
  readonly body: string;
  readonly contentType: string;
  readonly records: number;
}

/** Sends one run through intake and the workflow, resolving when the run has ended. */
export type SubmitRun = (run: RunInput) => Promise<void>;

/**
 * Runs the bench's own synchronous work (building a batch's input) with its CPU time kept out
 * of the pipeline's: a client sending the batches would spend it, not the pipeline.
 */
export type Untimed = <T>(work: () => T) => T;

/** What `drivePipeline` measures of the runs a workload submitted, and the baselines. */
export interface PipelineFigures {
  /** Input records, summed over the runs submitted. */
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
  readonly constrainedCopy: ConstrainedCopyFigures;
  readonly constrainedCopyRecordsPerSecond: number;
  /** End to end over the constrained COPY: 1 would be all a pipeline can do with this schema. */
  readonly constrainedRatio: number;
  /**
   * The CPU a pipeline at the target ratio to COPY could spend: every core of this machine for
   * COPY's time divided by the target, the server's work included.
   */
  readonly cpuAtTargetMs: number;
  /**
   * CPU time while the pipeline ran: this process's, and the server's when it runs here. The
   * process's leaves out the bench's own building of the input (`inputCpuMs`).
   */
  readonly cpuMs: CpuFigures;
  readonly inputCpuMs: number;
  /** The statements the pipeline ran, from pg_stat_statements (null when the server lacks it). */
  readonly statements: StatementSummary | null;
  /** Milliseconds summed over runs: intake, each stage, and the rest (interpreter, Publish). */
  readonly timeMs: Readonly<Record<'intake' | StageName | 'other', number>>;
  readonly keyServiceCalls: {
    readonly total: number;
    /** Calls bound to a run (its encryption context names it): mean and most over the runs. */
    readonly perRun: number;
    readonly maxPerRun: number;
    /** Calls bound to no run (the blind-index key, once per key cache). */
    readonly shared: number;
    /**
     * The audit chain's MAC calls (KMS GenerateMac and VerifyMac when deployed), over every run
     * and per run on average: a MAC names no run, so the most per run is not known.
     */
    readonly auditMac: {
      readonly generate: number;
      readonly verify: number;
      readonly perRun: number;
    };
  };
  readonly stored: readonly TableFigures[];
  readonly storedRows: number;
  readonly walBytes: number;
  /** Rejections by reason (`rejected: <reason>`). */
  readonly outcomes: Readonly<Record<string, number>>;
  /** Rejections by reason, then by resource type (`none` where the record named none). */
  readonly rejectionsByType: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** ingest_runs.counts summed over the runs, key by key. */
  readonly runCounts: Readonly<Record<string, number>>;
  /** Tables holding rows that no baseline copies, with their row counts (none, normally). */
  readonly uncopiedTables: Readonly<Record<string, number>>;
  /** The most resident memory sampled while the pipeline ran (not the COPY baseline's buffers). */
  readonly pipelinePeakRssBytes: number;
  /**
   * Per Task state, the most memory one invocation added while it ran: JavaScript heap plus
   * Buffers, sampled, over what was in use when it started (garbage included, so an upper
   * bound). Exact only at concurrency 1, when one state runs at a time.
   */
  readonly peakGrowthByStateBytes: Readonly<Record<string, number>>;
}

export interface RunFigures extends PipelineFigures {
  readonly options: RunOptions;
}

function stageDependencies(
  base: Omit<PipelineDependencies, 'keyring' | 'auditMac'>,
  keyService: CountingKeyService,
  auditMac: CountingAuditMac,
): PipelineDependencies {
  return {
    ...base,
    // A key adapter of its own too, as a function has: what one function's adapter has seen
    // (its memory of verified seals) is not another's.
    auditMac,
    // Each Lambda function has a cache of its own, sized as lib/config.ts's defaults.
    keyring: new Keyring(keyService, new DataKeyCache({ maxAgeMs: 300_000, maxUses: 10_000 })),
  };
}

/**
 * Runs `workload` against the real pipeline on a fresh database, `concurrency` runs in flight
 * at most (the workload keeps to it; the pool is sized for it), then the COPY baselines of
 * what it stored.
 */
export async function drivePipeline(
  server: BenchServer,
  concurrency: number,
  payloads: PayloadStoreKind,
  workload: (submit: SubmitRun, untimed: Untimed) => Promise<void>,
): Promise<PipelineFigures> {
  const database = await server.database(concurrency * 3 + 2);
  const payloadDirectory = join(tmpdir(), `bench-payloads-${randomBytes(6).toString('hex')}`);
  try {
    const keyService = new CountingKeyService(new LocalKeyService(randomBytes(32)));
    const auditMacKey = new LocalAuditMac(randomBytes(32));
    const auditMacs: CountingAuditMac[] = [];
    const functionAuditMac = () => {
      const counted = new CountingAuditMac(auditMacKey);
      auditMacs.push(counted);
      return counted;
    };
    const base = {
      pool: database.pool,
      auditCheckpoints: new DirectoryCheckpointStore(
        join(tmpdir(), `audit-checkpoints-${randomBytes(6).toString('hex')}`),
      ),
      events: new TableEventSink(database.pool),
      payloadStore:
        payloads === 'directory'
          ? new DirectoryPayloadStore(payloadDirectory)
          : new PostgresPayloadStore(),
      logger: createLogger({ logLevel: 'SILENT' }),
      now: () => new Date(),
    };
    const intake = stageDependencies(base, keyService, functionAuditMac());
    const inUse = () => {
      const { heapUsed, external } = process.memoryUsage();
      return heapUsed + external;
    };
    /** Each running state's memory in use when it started, and the most seen since. */
    const running = new Map<TaskState, { start: number; peak: number }>();
    const peakGrowthByState: Record<string, number> = {};
    const handlers = Object.fromEntries(
      TASK_STATES.map((state) => {
        const deps = stageDependencies(base, keyService, functionAuditMac());
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

    let runs = 0;
    let records = 0;
    let failedRuns = 0;
    let intakeMs = 0;
    let executionMs = 0;
    const submit: SubmitRun = async (run) => {
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
    };

    let pipelinePeakRssBytes = process.memoryUsage.rss();
    const sampler = setInterval(() => {
      pipelinePeakRssBytes = Math.max(pipelinePeakRssBytes, process.memoryUsage.rss());
      if (running.size === 0) return;
      const used = inUse();
      for (const sample of running.values()) sample.peak = Math.max(sample.peak, used);
    }, 10);
    await database.statements?.reset();
    const walFrom = await walPosition(database.pool);
    const cpuSpent = await startCpuCount(database.pool);
    let inputCpuMs = 0;
    // The main thread's CPU alone: the process's would count what libuv's threads spent
    // meanwhile on the pipeline's own file writes.
    const untimed: Untimed = (work) => {
      const from = process.threadCpuUsage();
      try {
        return work();
      } finally {
        const spent = process.threadCpuUsage(from);
        inputCpuMs += (spent.user + spent.system) / 1000;
      }
    };
    const started = performance.now();
    try {
      await workload(submit, untimed);
    } finally {
      clearInterval(sampler);
    }
    const pipelineMs = performance.now() - started;
    const spent = cpuSpent();
    const cpuMs = { ...spent, node: spent.node - inputCpuMs };
    const statements =
      database.statements === null ? null : summariseStatements(await database.statements.read());
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

    const { rows: reasons } = await database.pool.query<{
      reason: string;
      type: string | null;
      n: string;
    }>(
      `SELECT reason, resource_type AS type, count(*) AS n FROM rejections
       GROUP BY reason, resource_type ORDER BY reason, resource_type`,
    );
    const outcomes: Record<string, number> = {};
    const rejectionsByType: Record<string, Record<string, number>> = {};
    for (const { reason, type, n } of reasons) {
      outcomes[`rejected: ${reason}`] = (outcomes[`rejected: ${reason}`] ?? 0) + Number(n);
      rejectionsByType[reason] = { ...rejectionsByType[reason], [type ?? 'none']: Number(n) };
    }
    const { rows: counted } = await database.pool.query<{ key: string; n: string }>(
      `SELECT key, sum(value::numeric) AS n
       FROM ingest_runs, jsonb_each_text(counts)
       WHERE jsonb_typeof(counts -> key) = 'number' GROUP BY key ORDER BY key`,
    );
    const runCounts = Object.fromEntries(counted.map(({ key, n }) => [key, Number(n)]));
    const stored = await tableFigures(database.pool, 'public', await storedTables(database.pool));
    const uncopied = await uncopiedTables(database.pool);

    const auditMacGenerated = auditMacs.reduce((sum, mac) => sum + mac.generated, 0);
    const auditMacVerified = auditMacs.reduce((sum, mac) => sum + mac.verified, 0);
    const callsByRun = new Map<string, number>();
    let shared = 0;
    for (const { context } of keyService.calls) {
      const runId = context['runId'];
      if (runId === undefined) shared += 1;
      else callsByRun.set(runId, (callsByRun.get(runId) ?? 0) + 1);
    }

    const exported = await exportStored(database.pool);
    const copy = await copyBaseline(database.pool, exported, concurrency);
    const target = await server.database(concurrency + 1);
    let constrainedCopy: ConstrainedCopyFigures;
    try {
      constrainedCopy = await constrainedCopyBaseline(
        target.pool,
        exported,
        concurrency,
        target.statements,
      );
    } finally {
      await target.drop();
    }
    const recordsPerSecond = records / (pipelineMs / 1000);
    const copyRecordsPerSecond = records / (copy.ms / 1000);
    const constrainedCopyRecordsPerSecond = records / (constrainedCopy.ms / 1000);
    return {
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
      inputCpuMs,
      statements,
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
        auditMac: {
          generate: auditMacGenerated,
          verify: auditMacVerified,
          perRun: (auditMacGenerated + auditMacVerified) / runs,
        },
      },
      stored,
      storedRows: stored.reduce((sum, figure) => sum + figure.rows, 0),
      walBytes,
      outcomes,
      rejectionsByType,
      runCounts,
      uncopiedTables: uncopied,
      pipelinePeakRssBytes,
      peakGrowthByStateBytes: peakGrowthByState,
    };
  } finally {
    rmSync(payloadDirectory, { recursive: true, force: true });
    await database.drop();
  }
}

/** The default workload: `options.patients` synthetic patients in batches, and their Observations. */
export async function benchmarkRun(server: BenchServer, options: RunOptions): Promise<RunFigures> {
  const batches = Math.ceil(options.patients / options.batchSize);
  const figures = await drivePipeline(
    server,
    options.concurrency,
    options.payloads,
    async (submit, untimed) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: options.concurrency }, async () => {
          for (let batch = next++; batch < batches; batch = next++) {
            // A batch's Observations name its patients, so they follow its patient run.
            for (const run of untimed(() => batchRuns(batch, options))) await submit(run);
          }
        }),
      );
    },
  );
  const rowsOf = (table: string) =>
    figures.stored.find((figure) => figure.table === table)?.rows ?? 0;
  return {
    ...figures,
    options,
    outcomes: {
      ...figures.outcomes,
      'patients stored': rowsOf('patients'),
      // Observations are rows of fhir_resources once every FHIR type is stored.
      'observations stored': rowsOf('observations') + rowsOf('fhir_resources'),
      'audit rows': rowsOf('audit_log'),
    },
  };
}
