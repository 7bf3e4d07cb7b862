import type { RunCounts } from './apiClient.ts';
import type { OutcomeLine } from './outcomes.ts';

type ReasonCounts = ReadonlyArray<readonly [reason: string, count: number]>;

/** What became of the input records of one resource type. */
export interface TypeSummary {
  /** As the input names it; null for records without one (not JSON, or no resourceType). */
  readonly resourceType: string | null;
  /** From the outcome lines, as are rejected, skipped, failed and pending. */
  readonly received: number;
  /** From the runs' counts, summed over the distinct runs its records went through. */
  readonly created: number;
  readonly updated: number;
  readonly unchanged: number;
  /** By reason, reasons in name order. */
  readonly rejected: ReasonCounts;
  readonly skipped: number;
  readonly failed: number;
  readonly pending: number;
}

export interface Summary {
  /** Input records: NDJSON lines and Bundle entries. */
  readonly received: number;
  readonly loaded: number;
  /** Rejected records by reason, reasons in name order. */
  readonly rejected: ReasonCounts;
  readonly skipped: number;
  readonly failed: number;
  /** Not sent yet (--max-batches stopped before them, or a failure did). */
  readonly pending: number;
  /** Distinct runs the records went through. */
  readonly runs: number;
  /** Of those, the runs whose counts were not read: created, updated and unchanged leave them out. */
  readonly runsWithoutCounts: number;
  /** One per resource type, in the order the input first names each. */
  readonly types: readonly TypeSummary[];
}

export interface SummaryContext {
  readonly batches: number;
  readonly batchesSentNow: number;
  readonly elapsedMs: number;
  readonly outcomesFile: string;
}

const STORED = ['created', 'updated', 'unchanged'] as const;
type Stored = (typeof STORED)[number];

/** A run counts Patients under `created`, … and every other type under `<Type>.created`, …. */
function countKey(resourceType: string, stored: Stored): string {
  return resourceType === 'Patient' ? stored : `${resourceType}.${stored}`;
}

function byName<T>(entries: Iterable<readonly [string, T]>): Array<readonly [string, T]> {
  return [...entries].sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0));
}

interface Tally {
  received: number;
  readonly rejected: Map<string, number>;
  skipped: number;
  failed: number;
  pending: number;
  loaded: number;
}

function emptyTally(): Tally {
  return { received: 0, rejected: new Map(), skipped: 0, failed: 0, pending: 0, loaded: 0 };
}

function count(tally: Tally, line: OutcomeLine): void {
  tally.received += 1;
  if (line.outcome === 'rejected') {
    const reason = line.reason ?? 'unknown';
    tally.rejected.set(reason, (tally.rejected.get(reason) ?? 0) + 1);
  } else {
    tally[line.outcome] += 1;
  }
}

/**
 * Counts the outcome lines, in all and by resource type, and adds up the runs' counts of
 * what each type stored (a key a run does not have counts 0). The summary of a resumed run
 * is the whole input's, not this run's.
 */
export function summarize(
  lines: readonly OutcomeLine[],
  runCounts: ReadonlyMap<string, RunCounts>,
): Summary {
  const total = emptyTally();
  const byType = new Map<string | null, Tally>();
  const runs = new Set<string>();
  for (const line of lines) {
    if (line.runId !== null) runs.add(line.runId);
    count(total, line);
    let tally = byType.get(line.resourceType);
    if (tally === undefined) {
      tally = emptyTally();
      byType.set(line.resourceType, tally);
    }
    count(tally, line);
  }
  const counted = [...runs]
    .map((runId) => runCounts.get(runId))
    .filter((counts): counts is RunCounts => counts !== undefined);
  const stored = (resourceType: string | null, what: Stored): number =>
    resourceType === null
      ? 0
      : counted.reduce((sum, counts) => sum + (counts[countKey(resourceType, what)] ?? 0), 0);
  return {
    received: total.received,
    loaded: total.loaded,
    rejected: byName(total.rejected),
    skipped: total.skipped,
    failed: total.failed,
    pending: total.pending,
    runs: runs.size,
    runsWithoutCounts: runs.size - counted.length,
    types: [...byType].map(([resourceType, tally]) => ({
      resourceType,
      received: tally.received,
      created: stored(resourceType, 'created'),
      updated: stored(resourceType, 'updated'),
      unchanged: stored(resourceType, 'unchanged'),
      rejected: byName(tally.rejected),
      skipped: tally.skipped,
      failed: tally.failed,
      pending: tally.pending,
    })),
  };
}

function seconds(milliseconds: number): string {
  return `${(milliseconds / 1000).toFixed(1)} s`;
}

/** Rows of cells, the first column left-aligned and the others right-aligned, two spaces apart. */
function aligned(rows: ReadonlyArray<readonly string[]>): string[] {
  const widths = rows[0]?.map((_, at) => Math.max(...rows.map((row) => row[at]?.length ?? 0)));
  return rows.map((row) =>
    row
      .map((cell, at) =>
        at === 0 ? cell.padEnd(widths?.[at] ?? 0) : cell.padStart(widths?.[at] ?? 0),
      )
      .join('  '),
  );
}

/**
 * One row per resource type: received, created, updated, unchanged, a rejected column per
 * reason that occurs (one `rejected` column when none does), skipped, and failed and pending
 * when any record is.
 */
function typeTable(summary: Summary): string[] {
  const reasons = summary.rejected.map(([reason]) => reason);
  const columns: Array<readonly [string, (type: TypeSummary) => number]> = [
    ['received', (type) => type.received],
    ...STORED.map((what) => [what, (type: TypeSummary) => type[what]] as const),
    ...(reasons.length === 0
      ? [['rejected', () => 0] as const]
      : reasons.map(
          (reason) =>
            [
              `rejected: ${reason}`,
              (type: TypeSummary) => type.rejected.find(([name]) => name === reason)?.[1] ?? 0,
            ] as const,
        )),
    ['skipped', (type) => type.skipped],
    ...(summary.failed > 0 ? [['failed', (type: TypeSummary) => type.failed] as const] : []),
    ...(summary.pending > 0 ? [['pending', (type: TypeSummary) => type.pending] as const] : []),
  ];
  return aligned([
    ['type', ...columns.map(([label]) => label)],
    ...summary.types.map((type) => [
      type.resourceType ?? '(no type)',
      ...columns.map(([, value]) => String(value(type))),
    ]),
  ]);
}

/**
 * The tables printed at the end: one row per resource type, then one row per count of the
 * whole input (rejections one row per reason), runs, batches and elapsed time.
 */
export function summaryTable(summary: Summary, context: SummaryContext): string {
  const counts: Array<readonly [string, number]> = [
    ['received', summary.received],
    ['loaded', summary.loaded],
    ...(summary.rejected.length === 0
      ? [['rejected', 0] as const]
      : summary.rejected.map(([reason, count]) => [`rejected: ${reason}`, count] as const)),
    ['skipped', summary.skipped],
    ...(summary.failed > 0 ? [['failed', summary.failed] as const] : []),
    ...(summary.pending > 0 ? [['pending (not sent yet)', summary.pending] as const] : []),
  ];
  const facts: Array<readonly [string, string]> = [
    ['runs', String(summary.runs)],
    ...(summary.runsWithoutCounts > 0
      ? [['runs without counts', String(summary.runsWithoutCounts)] as const]
      : []),
    ['batches', String(context.batches)],
    ['batches sent now', String(context.batchesSentNow)],
    ['elapsed', seconds(context.elapsedMs)],
  ];
  const totals = aligned([
    ['outcome', 'records'],
    ...counts.map(([label, count]) => [label, String(count)]),
    ...facts,
  ]);
  const byType = summary.types.length === 0 ? [] : [...typeTable(summary), ''];
  return `${[...byType, ...totals].join('\n')}\noutcomes written to ${context.outcomesFile}\n`;
}
