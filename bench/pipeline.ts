/**
 * `npm run bench`: end-to-end throughput of the real pipeline against PostgreSQL's own COPY
 * of the same rows on the same machine.
 *
 *   npm run bench -- [--patients N] [--batch B] [--concurrency C] [--observations K]
 *                    [--json FILE] [--scale]
 *
 * Defaults: 50,000 patients, batches of 1,000, concurrency 2, 2 observations per patient.
 * `--scale` runs N = 10,000, 50,000 and 200,000, each on a fresh database.
 * DATABASE_URL names the server to use; without it an embedded PostgreSQL is started.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { STAGES } from '../lib/pipeline/stages.ts';
import { type BenchServer, startBenchServer } from './database.ts';
import { benchmarkRun, type RunFigures, type RunOptions, TARGET_RATIO } from './pipelineRun.ts';
import type { CpuFigures } from './processCpu.ts';

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

function options(): { run: RunOptions; json: string | undefined; scale: boolean } {
  const { values } = parseArgs({
    options: {
      patients: { type: 'string' },
      batch: { type: 'string' },
      concurrency: { type: 'string' },
      observations: { type: 'string' },
      json: { type: 'string' },
      scale: { type: 'boolean', default: false },
    },
    strict: true,
  });
  return {
    run: {
      patients: integerOption('patients', values.patients, 50_000),
      batchSize: integerOption('batch', values.batch, 1_000),
      concurrency: integerOption('concurrency', values.concurrency, 2),
      observations: integerOption('observations', values.observations, 2, 0),
    },
    json: values.json,
    scale: values.scale,
  };
}

const integer = (value: number): string => Math.round(value).toLocaleString('en-US');
const fixed = (value: number, digits = 2): string => value.toFixed(digits);
const mib = (bytes: number): string => `${fixed(bytes / 1_048_576, 1)} MiB`;

function machine(server: BenchServer) {
  return {
    cores: availableParallelism(),
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    memory: mib(totalmem()),
    node: process.version,
    postgres: server.version,
    database: server.where,
  };
}

function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

const NOT_MEASURED = 'not measured (server elsewhere)';

/** CPU seconds spent in this process and the server, against the machine's cores for `ms`. */
function cpuSpent(cpu: CpuFigures, ms: number): string {
  const postgres = cpu.postgres === null ? NOT_MEASURED : `${fixed(cpu.postgres / 1000)} s`;
  return `${fixed(cpu.node / 1000)} s / ${postgres} (of ${fixed((availableParallelism() * ms) / 1000)} core-s)`;
}

/** Both together, which only means something when the server's was measured. */
function cpuTotal(cpu: CpuFigures): string {
  return cpu.postgres === null ? NOT_MEASURED : fixed((cpu.node + cpu.postgres) / 1000);
}

function printRun(figures: RunFigures, peakRss: number): void {
  const { options: o } = figures;
  const rows: [string, string][] = [
    [
      'workload',
      `${integer(o.patients)} patients, ${o.observations} observations each, batches of ${integer(o.batchSize)}, concurrency ${o.concurrency}`,
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
  const width = Math.max(...rows.map(([label]) => label.length));
  for (const [label, value] of rows) console.log(`${label.padEnd(width)}  ${value}`);
}

async function main(): Promise<void> {
  const { run, json, scale } = options();
  const server = await startBenchServer();
  try {
    const host = machine(server);
    console.log(
      `machine: ${host.cores} cores (${host.cpu}), ${host.memory}, Node ${host.node}, PostgreSQL ${host.postgres} (${host.database})`,
    );
    const results: { figures: RunFigures; peakRssBytes: number }[] = [];
    for (const patients of scale ? SCALE : [run.patients]) {
      console.log('');
      const figures = await benchmarkRun(server, { ...run, patients });
      const peak = peakRssBytes();
      results.push({ figures, peakRssBytes: peak });
      printRun(figures, peak);
    }
    if (scale) {
      console.log('\nscale: records/s as the tables grow');
      for (const { figures } of results) {
        console.log(
          `${integer(figures.options.patients).padStart(8)} patients  ${integer(figures.recordsPerSecond).padStart(7)} records/s  ratio ${fixed(figures.ratio, 3)}×, to the real tables ${fixed(figures.constrainedRatio, 3)}×`,
        );
      }
      const first = results[0]?.figures.recordsPerSecond ?? Number.NaN;
      const last = results.at(-1)?.figures.recordsPerSecond ?? Number.NaN;
      console.log(`200,000 against 10,000: ${fixed((100 * last) / first, 1)} %`);
    }
    if (json !== undefined) {
      writeFileSync(json, `${JSON.stringify({ machine: host, results }, null, 2)}\n`);
      console.log(`\nwrote ${json}`);
    }
    if (results.some(({ figures }) => figures.failedRuns > 0)) process.exitCode = 1;
  } finally {
    await server.stop();
  }
}

await main();
