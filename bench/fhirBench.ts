/**
 * `npm run bench -- --fhir <export directory> --copies N`: a Synthea bulk export, copied N times
 * (bench/fhirExport.ts), through the real pipeline as FHIR NDJSON runs: the generated Consents
 * first (they wait for their patients), then the Patients, the shared types and the rest, each
 * type after the types it names, and each type's runs done before the next type starts, so each
 * type's share of the time is its own. Then the same COPY baselines as the default benchmark.
 */
import { availableParallelism } from 'node:os';
import type { BenchServer } from './database.ts';
import { exportCopies, loadOrder, ndjsonRuns, readExport } from './fhirExport.ts';
import {
  drivePipeline,
  type PayloadStoreKind,
  type PipelineFigures,
  type RunInput,
  TARGET_RATIO,
} from './pipelineRun.ts';
import { cpuSpent, cpuTotal, fixed, integer, mib, printRows } from './report.ts';
import { printPipelineStatements } from './runReport.ts';

/** Bigger runs are cut: DocumentReferences carry their notes, some of them long. */
export const MAX_RUN_BYTES = 5 * 1_048_576;
const NDJSON = 'application/fhir+ndjson';
const OUTCOMES = ['created', 'updated', 'unchanged'] as const;
/** A Consent is no row of its own: its decision is recorded, or waits for its patient. */
const CONSENT_COUNTS = {
  recorded: 'consentsRecorded',
  'waited for their patient': 'consentsPendingRecorded',
  undecided: 'consentsUndecided',
} as const;

export interface FhirBenchOptions {
  readonly directory: string;
  readonly copies: number;
  /** At most this many resources per run. */
  readonly batchSize: number;
  readonly concurrency: number;
  /** Of each copy's patients, the share given a permitting Consent. */
  readonly permitShare: number;
  readonly payloads: PayloadStoreKind;
}

export interface TypeFigures {
  readonly type: string;
  /** Resources of the type sent, and in how many runs. */
  readonly resources: number;
  readonly runs: number;
  /** Wall time from its first run's start to its last run's end (no other type in flight). */
  readonly ms: number;
  /** From the runs' counts: `<Type>.created` etc. (a Patient's unprefixed, a Consent's its own). */
  readonly stored: Readonly<Record<string, number>>;
}

export interface FhirBenchFigures extends PipelineFigures {
  readonly options: FhirBenchOptions;
  readonly resourcesPerSecond: number;
  readonly copyResourcesPerSecond: number;
  readonly ratio: number;
  readonly constrainedCopyResourcesPerSecond: number;
  readonly constrainedRatio: number;
  /** The CPU a pipeline at the target ratio to COPY could spend (see RunFigures). */
  readonly cpuAtTargetMs: number;
  /** CPU microseconds per resource sent while the pipeline ran. */
  readonly cpuPerResourceUs: { readonly node: number; readonly postgres: number | null };
  readonly byType: readonly TypeFigures[];
  /** Resources the run counts say were stored (created, updated or unchanged; Consents recorded). */
  readonly storedResources: number;
}

/** The copies' resources as NDJSON runs, by type in load order. */
function runsByType(options: FhirBenchOptions): { type: string; runs: RunInput[] }[] {
  const source = readExport(options.directory);
  const lines = new Map<string, string[]>();
  for (const copy of exportCopies(source, options)) {
    for (const [type, resources] of copy) {
      const typeLines = lines.get(type) ?? [];
      for (const resource of resources) typeLines.push(JSON.stringify(resource));
      lines.set(type, typeLines);
    }
  }
  return loadOrder(source).map((type) => ({
    type,
    runs: ndjsonRuns(lines.get(type) ?? [], options.batchSize, MAX_RUN_BYTES).map(
      ({ body, records }) => ({ body, contentType: NDJSON, records }),
    ),
  }));
}

function storedOf(type: string, counts: Readonly<Record<string, number>>): TypeFigures['stored'] {
  if (type === 'Consent') {
    return Object.fromEntries(
      Object.entries(CONSENT_COUNTS).map(([outcome, key]) => [outcome, counts[key] ?? 0]),
    );
  }
  const prefix = type === 'Patient' ? '' : `${type}.`;
  return Object.fromEntries(
    OUTCOMES.map((outcome) => [outcome, counts[`${prefix}${outcome}`] ?? 0]),
  );
}

export async function fhirBenchmarkRun(
  server: BenchServer,
  options: FhirBenchOptions,
): Promise<FhirBenchFigures> {
  const types = runsByType(options);
  const timed: { type: string; resources: number; runs: number; ms: number }[] = [];
  const figures = await drivePipeline(
    server,
    options.concurrency,
    options.payloads,
    async (submit) => {
      for (const { type, runs } of types) {
        const resources = runs.reduce((sum, run) => sum + run.records, 0);
        const count = runs.length;
        const started = performance.now();
        await Promise.all(
          Array.from({ length: options.concurrency }, async () => {
            // Taken off the list, so a run's body is garbage once it is sent.
            for (let run = runs.shift(); run !== undefined; run = runs.shift()) await submit(run);
          }),
        );
        timed.push({ type, resources, runs: count, ms: performance.now() - started });
      }
    },
  );
  const byType = timed.map((type) => ({ ...type, stored: storedOf(type.type, figures.runCounts) }));
  const perSecond = (ms: number) => figures.records / (ms / 1000);
  const resourcesPerSecond = perSecond(figures.pipelineMs);
  const copyResourcesPerSecond = perSecond(figures.copy.ms);
  const constrainedCopyResourcesPerSecond = perSecond(figures.constrainedCopy.ms);
  return {
    ...figures,
    options,
    resourcesPerSecond,
    copyResourcesPerSecond,
    ratio: resourcesPerSecond / copyResourcesPerSecond,
    constrainedCopyResourcesPerSecond,
    constrainedRatio: resourcesPerSecond / constrainedCopyResourcesPerSecond,
    cpuAtTargetMs: (availableParallelism() * figures.copy.ms) / TARGET_RATIO,
    cpuPerResourceUs: {
      node: (1000 * figures.cpuMs.node) / figures.records,
      postgres:
        figures.cpuMs.postgres === null ? null : (1000 * figures.cpuMs.postgres) / figures.records,
    },
    byType,
    storedResources: byType.reduce(
      (sum, { type, stored }) =>
        sum +
        (type === 'Consent'
          ? (stored['recorded'] ?? 0)
          : OUTCOMES.reduce((all, outcome) => all + (stored[outcome] ?? 0), 0)),
      0,
    ),
  };
}

export function printFhirRun(figures: FhirBenchFigures, peakRss: number): void {
  const { options: o } = figures;
  const perCore = (perSecond: number) =>
    `${integer(perSecond)} (${integer(perSecond / availableParallelism())} per core)`;
  const rows: [string, string][] = [
    [
      'workload',
      `${o.directory} × ${o.copies}, ${fixed(100 * o.permitShare, 0)}% of patients permitted, runs of at most ${integer(o.batchSize)} resources and ${mib(MAX_RUN_BYTES)}, concurrency ${o.concurrency}, claim-check payloads in ${o.payloads === 'directory' ? 'a directory' : 'PostgreSQL'}`,
    ],
    ['resources sent', integer(figures.records)],
    ['runs (failed)', `${integer(figures.runs)} (${figures.failedRuns})`],
    ['pipeline, end to end', `${fixed(figures.pipelineMs / 1000)} s`],
    ['  resources/s', perCore(figures.resourcesPerSecond)],
    [
      'resources stored (run counts), per second',
      `${integer(figures.storedResources)}, ${integer(figures.storedResources / (figures.pipelineMs / 1000))}/s`,
    ],
    [`COPY of the same ${integer(figures.copy.rows)} rows`, `${fixed(figures.copy.ms / 1000)} s`],
    ['  resources/s', integer(figures.copyResourcesPerSecond)],
    ['ratio pipeline / COPY', `${fixed(figures.ratio, 3)}×`],
    [
      'COPY into the real tables (foreign keys, triggers)',
      `${fixed(figures.constrainedCopy.ms / 1000)} s`,
    ],
    ['  resources/s', integer(figures.constrainedCopyResourcesPerSecond)],
    [
      '  its ratio to COPY: the most the schema allows',
      `${fixed(figures.constrainedCopyResourcesPerSecond / figures.copyResourcesPerSecond, 3)}×`,
    ],
    ['ratio pipeline / COPY into the real tables', `${fixed(figures.constrainedRatio, 3)}×`],
    ['CPU while the pipeline ran: Node / PostgreSQL', cpuSpent(figures.cpuMs, figures.pipelineMs)],
    [
      'CPU per resource: Node / PostgreSQL',
      `${integer(figures.cpuPerResourceUs.node)} µs / ${figures.cpuPerResourceUs.postgres === null ? 'not measured' : `${integer(figures.cpuPerResourceUs.postgres)} µs`}`,
    ],
    ['CPU while COPY ran: Node / PostgreSQL', cpuSpent(figures.copy.cpuMs, figures.copy.ms)],
    [
      'CPU while COPY into the real tables ran',
      cpuSpent(figures.constrainedCopy.cpuMs, figures.constrainedCopy.ms),
    ],
    [
      `CPU at ${TARGET_RATIO}× COPY: the most / the pipeline spent`,
      `${fixed(figures.cpuAtTargetMs / 1000)} / ${cpuTotal(figures.cpuMs)} core-s`,
    ],
  ];
  rows.push(['by type, in load order', 'sent; share of the time; sent/s; stored (run counts)']);
  for (const type of figures.byType) {
    const stored = Object.entries(type.stored).map(([outcome, n]) => `${integer(n)} ${outcome}`);
    rows.push([
      `  ${type.type}`,
      `${integer(type.resources)} in ${type.runs} runs; ${fixed((100 * type.ms) / figures.pipelineMs, 1)}%; ${integer(type.resources / (type.ms / 1000))}/s; ${stored.join(', ')}`,
    ]);
  }
  const calls = figures.keyServiceCalls;
  rows.push(
    ['key-service calls per run (max)', `${fixed(calls.perRun, 1)} (${calls.maxPerRun})`],
    ['key-service calls, not per run', String(calls.shared)],
    [
      'audit MAC calls per run (KMS when deployed)',
      `${fixed(calls.auditMac.perRun, 1)} (${integer(calls.auditMac.generate)} made, ${integer(calls.auditMac.verify)} verified)`,
    ],
    [
      'peak RSS while the pipeline ran (runs not sent yet included)',
      mib(figures.pipelinePeakRssBytes),
    ],
    ['peak RSS of the process (input and COPY buffers too)', mib(peakRss)],
  );
  for (const [reason, byType] of Object.entries(figures.rejectionsByType)) {
    const types = Object.entries(byType).map(([type, n]) => `${type} ${integer(n)}`);
    rows.push([`rejected: ${reason}`, types.join(', ')]);
  }
  for (const { table, rows: count } of figures.stored)
    rows.push([`rows in ${table}`, integer(count)]);
  for (const [table, count] of Object.entries(figures.uncopiedTables)) {
    rows.push([`NOT COPIED by the baselines: ${table}`, `${integer(count)} rows`]);
  }
  rows.push(['run counts', JSON.stringify(figures.runCounts)]);
  printRows(rows);
  printPipelineStatements(figures);
}
