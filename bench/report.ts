/** How the pipeline benchmarks print their figures and describe the machine they ran on. */
import { availableParallelism, cpus, totalmem } from 'node:os';
import type { BenchServer, StatementCount } from './database.ts';
import type { CpuFigures } from './processCpu.ts';

export const integer = (value: number): string => Math.round(value).toLocaleString('en-US');
export const fixed = (value: number, digits = 2): string => value.toFixed(digits);
export const mib = (bytes: number): string => `${fixed(bytes / 1_048_576, 1)} MiB`;

export function machine(server: BenchServer) {
  return {
    cores: availableParallelism(),
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    memory: mib(totalmem()),
    node: process.version,
    postgres: server.version,
    database: server.where,
  };
}

export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

export const NOT_MEASURED = 'not measured (server elsewhere)';

/** CPU seconds spent in this process and the server, against the machine's cores for `ms`. */
export function cpuSpent(cpu: CpuFigures, ms: number): string {
  const postgres = cpu.postgres === null ? NOT_MEASURED : `${fixed(cpu.postgres / 1000)} s`;
  return `${fixed(cpu.node / 1000)} s / ${postgres} (of ${fixed((availableParallelism() * ms) / 1000)} core-s)`;
}

/** Both together, which only means something when the server's was measured. */
export function cpuTotal(cpu: CpuFigures): string {
  return cpu.postgres === null ? NOT_MEASURED : fixed((cpu.node + cpu.postgres) / 1000);
}

/** Label-value rows, the labels padded to one width. */
export function printRows(rows: readonly (readonly [string, string])[]): void {
  const width = Math.max(...rows.map(([label]) => label.length));
  for (const [label, value] of rows) console.log(`${label.padEnd(width)}  ${value}`);
}

/** Issue 19's limits. */
export const TARGETS = {
  /** End to end over COPY into the real tables, at least. */
  constrainedRatio: 0.5,
  /** PostgreSQL's CPU per record over the constrained COPY's, at most. */
  postgresCpu: 1.3,
  /** WAL bytes per record over COPY's, at most. */
  wal: 1.2,
  nodeCpuUsPerRecord: 80,
  keyServiceCallsPerRun: 8,
  /** Peak RSS below this, judged at batches of `rssBatchSize` only. */
  peakRssBytes: 512 * 1_048_576,
  rssBatchSize: 5_000,
  /** Records/s at the largest scale over that at the smallest, at least. */
  scaleShare: 0.8,
} as const;

/** What the targets are judged on, from one run. */
export interface TargetInput {
  readonly records: number;
  readonly batchSize: number;
  /** End to end over COPY into the real tables. */
  readonly constrainedRatio: number;
  /** Server CPU (null when not measured here) while the pipeline and the constrained COPY ran. */
  readonly postgresCpuMs: {
    readonly pipeline: number | null;
    readonly constrainedCopy: number | null;
  };
  readonly walBytes: { readonly pipeline: number; readonly copy: number };
  readonly nodeCpuMs: number;
  readonly maxKeyServiceCallsPerRun: number;
  /** The audit chain's MAC calls per run, on average: KMS calls too when deployed. */
  readonly auditMacCallsPerRun: number;
  readonly peakRssBytes: number;
}

/** One target: the figure as printed, its value, the limit, and whether it is met (null: not judged). */
export interface Target {
  readonly target: string;
  readonly value: number | null;
  readonly figure: string;
  readonly limit: string;
  readonly met: boolean | null;
}

/** The targets for one run (cold start has a benchmark of its own). */
export function runTargets(input: TargetInput): Target[] {
  const { postgresCpuMs: cpu } = input;
  const cpuRatio =
    cpu.pipeline === null || cpu.constrainedCopy === null
      ? null
      : cpu.pipeline / cpu.constrainedCopy;
  const perRecordUs = (ms: number) => `${integer((1000 * ms) / input.records)} µs`;
  const walRatio = input.walBytes.pipeline / input.walBytes.copy;
  const nodeUs = (1000 * input.nodeCpuMs) / input.records;
  const rssJudged = input.batchSize === TARGETS.rssBatchSize;
  return [
    {
      target: 'end to end / COPY into the real tables',
      value: input.constrainedRatio,
      figure: `${fixed(input.constrainedRatio, 3)}×`,
      limit: `≥ ${TARGETS.constrainedRatio}×`,
      met: input.constrainedRatio >= TARGETS.constrainedRatio,
    },
    {
      target: "PostgreSQL CPU per record / the constrained COPY's",
      value: cpuRatio,
      figure:
        cpuRatio === null || cpu.pipeline === null || cpu.constrainedCopy === null
          ? 'not measured (server elsewhere)'
          : `${fixed(cpuRatio)}× (${perRecordUs(cpu.pipeline)} / ${perRecordUs(cpu.constrainedCopy)})`,
      limit: `≤ ${TARGETS.postgresCpu}×`,
      met: cpuRatio === null ? null : cpuRatio <= TARGETS.postgresCpu,
    },
    {
      target: "WAL per record / COPY's",
      value: walRatio,
      figure: `${fixed(walRatio)}× (${integer(input.walBytes.pipeline / input.records)} / ${integer(input.walBytes.copy / input.records)} bytes)`,
      limit: `≤ ${TARGETS.wal}×`,
      met: walRatio <= TARGETS.wal,
    },
    {
      target: 'Node CPU per record',
      value: nodeUs,
      figure: `${integer(nodeUs)} µs`,
      limit: `≤ ${TARGETS.nodeCpuUsPerRecord} µs`,
      met: nodeUs <= TARGETS.nodeCpuUsPerRecord,
    },
    {
      target: 'key-service calls per run',
      value: input.maxKeyServiceCallsPerRun + input.auditMacCallsPerRun,
      figure: `${fixed(input.maxKeyServiceCallsPerRun + input.auditMacCallsPerRun, 1)} (data keys ${input.maxKeyServiceCallsPerRun} at most, audit MACs ${fixed(input.auditMacCallsPerRun, 1)} on average)`,
      limit: `≤ ${TARGETS.keyServiceCallsPerRun}`,
      met:
        input.maxKeyServiceCallsPerRun + input.auditMacCallsPerRun <= TARGETS.keyServiceCallsPerRun,
    },
    {
      target: 'peak RSS while the pipeline ran',
      value: input.peakRssBytes,
      figure: rssJudged
        ? mib(input.peakRssBytes)
        : `${mib(input.peakRssBytes)}, measured at B=${integer(TARGETS.rssBatchSize)} only`,
      limit: `< ${mib(TARGETS.peakRssBytes)} at B=${integer(TARGETS.rssBatchSize)}`,
      met: rssJudged ? input.peakRssBytes < TARGETS.peakRssBytes : null,
    },
    {
      target: 'cold start per stage function',
      value: null,
      figure: 'measured by npm run bench:cold-start',
      limit: '< 300 ms',
      met: null,
    },
  ];
}

/** Records/s at the largest scale against the smallest's. */
export function scaleTarget(
  smallest: { readonly patients: number; readonly recordsPerSecond: number },
  largest: { readonly patients: number; readonly recordsPerSecond: number },
): Target {
  const share = largest.recordsPerSecond / smallest.recordsPerSecond;
  return {
    target: `records/s at ${integer(largest.patients)} patients / at ${integer(smallest.patients)}`,
    value: share,
    figure: `${fixed(100 * share, 1)} %`,
    limit: `≥ ${fixed(100 * TARGETS.scaleShare, 0)} %`,
    met: share >= TARGETS.scaleShare,
  };
}

export function printTargets(targets: readonly Target[]): void {
  console.log('\ntargets (issue 19)');
  printRows(
    targets.map(({ target, figure, limit, met }) => [
      `  ${target}`,
      `${figure}  (${limit})  ${met === null ? 'not judged here' : met ? 'met' : 'missed'}`,
    ]),
  );
}

/** pg_stat_statements' figures of one phase. */
export interface StatementSummary {
  /** Time of the statements clients sent: the nested ones are counted inside these. */
  readonly totalMs: number;
  /** The most costly statements, nested ones included, each with its share of `totalMs`. */
  readonly top: readonly (StatementCount & { readonly share: number })[];
  /** The client statements writing audit_log or audit_seals (chain trigger and indexes included). */
  readonly auditWrites: { readonly ms: number; readonly calls: number };
}

const AUDIT_WRITE = /\b(?:insert\s+into|copy)\s+(?:\w+\.)?audit_(?:log|seals)\b/i;

export function summariseStatements(counts: readonly StatementCount[], top = 10): StatementSummary {
  const toplevel = counts.filter((count) => count.toplevel);
  const totalMs = toplevel.reduce((sum, count) => sum + count.totalMs, 0);
  const auditWrites = toplevel.filter((count) => AUDIT_WRITE.test(count.query));
  return {
    totalMs,
    top: counts
      .toSorted((a, b) => b.totalMs - a.totalMs)
      .slice(0, top)
      .map((count) => ({ ...count, share: totalMs === 0 ? 0 : count.totalMs / totalMs })),
    auditWrites: {
      ms: auditWrites.reduce((sum, count) => sum + count.totalMs, 0),
      calls: auditWrites.reduce((sum, count) => sum + count.calls, 0),
    },
  };
}

/** A statement's text on one line of about `width` characters. */
export function oneLine(query: string, width = 100): string {
  const line = query.replace(/\s+/g, ' ').trim();
  return line.length <= width ? line : `${line.slice(0, width - 1)}…`;
}

export function printStatements(title: string, summary: StatementSummary | null): void {
  if (summary === null) {
    console.log(`\n${title}: not available (pg_stat_statements is not loaded on the server)`);
    return;
  }
  console.log(`\n${title}: ${fixed(summary.totalMs / 1000)} s in client statements`);
  console.log(
    '     calls   total ms  ms/call       rows  share  statement (+: run by a trigger or function)',
  );
  for (const count of summary.top) {
    console.log(
      [
        integer(count.calls).padStart(10),
        integer(count.totalMs).padStart(10),
        fixed(count.totalMs / count.calls, 3).padStart(8),
        integer(count.rows).padStart(10),
        `${fixed(100 * count.share, 1)}%`.padStart(6),
        ` ${count.toplevel ? ' ' : '+'}${oneLine(count.query)}`,
      ].join(' '),
    );
  }
}

/** The audit log's own write cost: per audit row written and per input record. */
export function auditWriteCost(
  summary: StatementSummary | null,
  auditRows: number,
  records: number,
): string {
  if (summary === null) return 'not available (no pg_stat_statements)';
  if (auditRows === 0) return 'no audit rows';
  const { ms, calls } = summary.auditWrites;
  const statements = calls === 1 ? 'statement' : 'statements';
  return `${fixed(ms / 1000)} s in ${integer(calls)} ${statements}: ${fixed((1000 * ms) / auditRows, 1)} µs per audit row, ${fixed((1000 * ms) / records, 1)} µs per record`;
}
