/**
 * `npm run bench`: end-to-end throughput of the real pipeline against PostgreSQL's own COPY
 * of the same rows on the same machine.
 *
 *   npm run bench -- [--patients N] [--batch B] [--concurrency C] [--observations K]
 *                    [--json FILE] [--scale]
 *   npm run bench -- --fhir DIR [--copies N] [--permit-share S] [--batch B] [--concurrency C]
 *                    [--json FILE]
 *   npm run bench -- --audit-verify [N] [--json FILE]
 *   npm run bench -- --audit-write [N] [--json FILE]
 *
 * Defaults: 50,000 patients, batches of 1,000, concurrency 2, 2 observations per patient.
 * `--scale` runs N = 10,000, 50,000 and 200,000, each on a fresh database. `--fhir` sends a
 * Synthea bulk export instead, copied N times (1), 90% of patients permitted (bench/fhirBench.ts).
 * `--audit-verify` times GET /api/v1/audit/verify's work on N audit rows (1,000,000;
 * bench/auditVerifyBench.ts). `--audit-write` times the audit log's writes on N rows (50,000)
 * and what its chain triggers, row hash and each index cost (bench/auditWriteBench.ts).
 * DATABASE_URL names the server to use; without it an embedded PostgreSQL is started.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { STAGES } from '../lib/pipeline/stages.ts';
import { auditVerifyBenchmark, printAuditVerify } from './auditVerifyBench.ts';
import { auditWriteBenchmark, printAuditWrite } from './auditWriteBench.ts';
import { type BenchServer, startBenchServer } from './database.ts';
import { type FhirBenchOptions, fhirBenchmarkRun, printFhirRun } from './fhirBench.ts';
import { DEFAULT_PERMIT_SHARE } from './fhirExport.ts';
import {
  benchmarkRun,
  PAYLOAD_STORE_KINDS,
  type PayloadStoreKind,
  type RunFigures,
  type RunOptions,
  TARGET_RATIO,
} from './pipelineRun.ts';
import {
  cpuSpent,
  cpuTotal,
  fixed,
  integer,
  machine,
  mib,
  peakRssBytes,
  printRows,
  printTargets,
  scaleTarget,
  type Target,
} from './report.ts';
import { pipelineTargets, printPipelineStatements } from './runReport.ts';

const SCALE = [10_000, 50_000, 200_000];

/** An integer option of at least `least` (1, or 0 where none makes sense, as for observations). */
function integerOption(
  name: string,
  value: string | undefined,
  fallback: number,
  least = 1,
): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < least) {
    throw new Error(`--${name} must be an integer of at least ${least}`);
  }
  return number;
}

/** A share from 0 to 1. */
function shareOption(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const share = Number(value);
  if (value.trim() === '' || !(share >= 0 && share <= 1)) {
    throw new Error(`--${name} must be a number from 0 to 1`);
  }
  return share;
}

type Options =
  | { kind: 'synthetic'; run: RunOptions; json: string | undefined; scale: boolean }
  | { kind: 'fhir'; run: FhirBenchOptions; json: string | undefined }
  | { kind: 'audit-verify'; rows: number; json: string | undefined }
  | { kind: 'audit-write'; rows: number; json: string | undefined };

const SYNTHETIC_ONLY = ['patients', 'observations', 'scale'] as const;
const FHIR_ONLY = ['copies', 'permit-share'] as const;

function options(): Options {
  const { values, positionals } = parseArgs({
    options: {
      patients: { type: 'string' },
      batch: { type: 'string' },
      concurrency: { type: 'string' },
      observations: { type: 'string' },
      json: { type: 'string' },
      scale: { type: 'boolean' },
      fhir: { type: 'string' },
      copies: { type: 'string' },
      'permit-share': { type: 'string' },
      'audit-verify': { type: 'boolean' },
      'audit-write': { type: 'boolean' },
      payloads: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  for (const [kind, fallback] of [
    ['audit-verify', 1_000_000],
    ['audit-write', 50_000],
  ] as const) {
    if (values[kind] !== true) continue;
    const [rows, ...more] = positionals;
    if (more.length > 0) throw new Error(`--${kind} takes one row count`);
    return { kind, rows: integerOption(kind, rows, fallback), json: values.json };
  }
  const payloads = values.payloads ?? 'directory';
  if (!PAYLOAD_STORE_KINDS.some((kind) => kind === payloads)) {
    throw new Error(`--payloads must be one of ${PAYLOAD_STORE_KINDS.join(', ')}`);
  }
  const batchSize = integerOption('batch', values.batch, 1_000);
  const concurrency = integerOption('concurrency', values.concurrency, 2);
  const fhir = values.fhir;
  const misplaced = (fhir === undefined ? FHIR_ONLY : SYNTHETIC_ONLY).find(
    (name) => values[name] !== undefined,
  );
  if (misplaced !== undefined) {
    throw new Error(`--${misplaced} ${fhir === undefined ? 'needs' : 'does not go with'} --fhir`);
  }
  if (fhir !== undefined) {
    return {
      kind: 'fhir',
      run: {
        directory: fhir,
        copies: integerOption('copies', values.copies, 1),
        batchSize,
        concurrency,
        permitShare: shareOption('permit-share', values['permit-share'], DEFAULT_PERMIT_SHARE),
        payloads: payloads as PayloadStoreKind,
      },
      json: values.json,
    };
  }
  return {
    kind: 'synthetic',
    run: {
      patients: integerOption('patients', values.patients, 50_000),
      batchSize,
      concurrency,
      observations: integerOption('observations', values.observations, 2, 0),
      payloads: payloads as PayloadStoreKind,
    },
    json: values.json,
    scale: values.scale ?? false,
  };
}

function printRun(figures: RunFigures, peakRss: number): void {
  const { options: o } = figures;
  const rows: [string, string][] = [
    [
      'workload',
      `${integer(o.patients)} patients, ${o.observations} observations each, batches of ${integer(o.batchSize)}, concurrency ${o.concurrency}, claim-check payloads in ${o.payloads === 'directory' ? 'a directory' : 'PostgreSQL'}`,
    ],
    ['records (patients + observations)', integer(figures.records)],
    ['runs (failed)', `${integer(figures.runs)} (${figures.failedRuns})`],
    ['pipeline, end to end', `${fixed(figures.pipelineMs / 1000)} s`],
    ['  records/s', integer(figures.recordsPerSecond)],
    [`COPY of the same ${integer(figures.copy.rows)} rows`, `${fixed(figures.copy.ms / 1000)} s`],
    ['  records/s', integer(figures.copyRecordsPerSecond)],
    ['ratio pipeline / COPY', `${fixed(figures.ratio, 3)}×`],
    [
      'COPY into the real tables (foreign keys, triggers)',
      `${fixed(figures.constrainedCopy.ms / 1000)} s`,
    ],
    ['  records/s', integer(figures.constrainedCopyRecordsPerSecond)],
    [
      '  its ratio to COPY: the most the schema allows',
      `${fixed(figures.constrainedCopyRecordsPerSecond / figures.copyRecordsPerSecond, 3)}×`,
    ],
    ['ratio pipeline / COPY into the real tables', `${fixed(figures.constrainedRatio, 3)}×`],
    ['CPU while the pipeline ran: Node / PostgreSQL', cpuSpent(figures.cpuMs, figures.pipelineMs)],
    ['  Node CPU building the input (left out above)', `${fixed(figures.inputCpuMs / 1000)} s`],
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
  const total = Object.values(figures.timeMs).reduce((sum, ms) => sum + ms, 0);
  for (const part of ['intake', ...STAGES, 'other'] as const) {
    rows.push([
      `share of run time: ${part}`,
      `${fixed((100 * figures.timeMs[part]) / total, 1)} %`,
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
    ['peak RSS while the pipeline ran', mib(figures.pipelinePeakRssBytes)],
    ['peak RSS of the process (COPY buffers too)', mib(peakRss)],
    ...Object.entries(figures.peakGrowthByStateBytes).map(([state, bytes]): [string, string] => [
      `  memory one ${state} added${o.concurrency === 1 ? '' : ' (others in flight)'}`,
      mib(bytes),
    ]),
    [
      'bytes per record: tables, pipeline / COPY',
      `${integer(figures.stored.reduce((s, t) => s + t.bytes, 0) / figures.records)} / ${integer(figures.copy.tables.reduce((s, t) => s + t.bytes, 0) / figures.records)}`,
    ],
    [
      'bytes per record: WAL, pipeline / COPY',
      `${integer(figures.walBytes / figures.records)} / ${integer(figures.copy.walBytes / figures.records)}`,
    ],
  );
  for (const [outcome, count] of Object.entries(figures.outcomes)) {
    rows.push([outcome, integer(count)]);
  }
  printRows(rows);
  printPipelineStatements(figures);
}

interface SyntheticResult {
  readonly figures: RunFigures;
  readonly peakRssBytes: number;
  readonly targets: readonly Target[];
}

async function runSynthetic(
  server: BenchServer,
  run: RunOptions,
  scale: boolean,
): Promise<{ results: SyntheticResult[]; targets: Target[]; failed: boolean }> {
  const results: SyntheticResult[] = [];
  for (const patients of scale ? SCALE : [run.patients]) {
    console.log('');
    const figures = await benchmarkRun(server, { ...run, patients });
    const peak = peakRssBytes();
    results.push({ figures, peakRssBytes: peak, targets: pipelineTargets(figures, run.batchSize) });
    printRun(figures, peak);
  }
  const failed = results.some(({ figures }) => figures.failedRuns > 0);
  if (!scale) return { results, targets: [...(results[0]?.targets ?? [])], failed };
  console.log('\nscale: records/s as the tables grow');
  for (const { figures } of results) {
    console.log(
      `${integer(figures.options.patients).padStart(8)} patients  ${integer(figures.recordsPerSecond).padStart(7)} records/s  ratio ${fixed(figures.ratio, 3)}×, to the real tables ${fixed(figures.constrainedRatio, 3)}×`,
    );
  }
  // Each size's targets, its patient count first, then the rate as the tables grow.
  const targets = results.flatMap(({ figures, targets }) =>
    targets.map((target) => ({
      ...target,
      target: `${integer(figures.options.patients)} patients: ${target.target}`,
    })),
  );
  targets.push(
    scaleTarget(
      { patients: SCALE[0] ?? 0, recordsPerSecond: results[0]?.figures.recordsPerSecond ?? 0 },
      {
        patients: SCALE.at(-1) ?? 0,
        recordsPerSecond: results.at(-1)?.figures.recordsPerSecond ?? 0,
      },
    ),
  );
  return { results, targets, failed };
}

function printMachine(host: ReturnType<typeof machine>): void {
  console.log(
    `machine: ${host.cores} cores (${host.cpu}), ${host.memory}, Node ${host.node}, PostgreSQL ${host.postgres} (${host.database})`,
  );
}

async function main(): Promise<void> {
  const chosen = options();
  const server = await startBenchServer();
  try {
    const host = machine(server);
    printMachine(host);
    let results: unknown[];
    let targets: Target[] | undefined;
    let failed: boolean;
    if (chosen.kind === 'audit-verify') {
      console.log('');
      const figures = await auditVerifyBenchmark(server, chosen.rows);
      printAuditVerify(figures);
      results = [figures];
      failed = false;
    } else if (chosen.kind === 'audit-write') {
      console.log('');
      const figures = await auditWriteBenchmark(server, chosen.rows);
      printAuditWrite(figures);
      results = [figures];
      failed = false;
    } else if (chosen.kind === 'fhir') {
      console.log('');
      const figures = await fhirBenchmarkRun(server, chosen.run);
      const peak = peakRssBytes();
      printFhirRun(figures, peak);
      targets = pipelineTargets(figures, chosen.run.batchSize);
      results = [{ figures, peakRssBytes: peak, targets }];
      failed = figures.failedRuns > 0;
    } else {
      const synthetic = await runSynthetic(server, chosen.run, chosen.scale);
      results = synthetic.results;
      targets = synthetic.targets;
      failed = synthetic.failed;
    }
    if (targets !== undefined) printTargets(targets);
    if (chosen.json !== undefined) {
      writeFileSync(
        chosen.json,
        `${JSON.stringify({ machine: host, targets, results }, null, 2)}\n`,
      );
      console.log(`\nwrote ${chosen.json}`);
    }
    if (failed) process.exitCode = 1;
  } finally {
    await server.stop();
  }
}

await main();
