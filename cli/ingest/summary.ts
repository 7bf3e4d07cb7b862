import type { OutcomeLine } from './outcomes.ts';

export interface Summary {
  /** Input records: NDJSON lines and Bundle entries. */
  readonly received: number;
  readonly loaded: number;
  /** Rejected records by reason, reasons in name order. */
  readonly rejected: ReadonlyArray<readonly [reason: string, count: number]>;
  readonly skipped: number;
  readonly failed: number;
  /** Not sent yet (--max-batches stopped before them, or a failure did). */
  readonly pending: number;
  /** Distinct runs the records went through. */
  readonly runs: number;
}

export interface SummaryContext {
  readonly batches: number;
  readonly batchesSentNow: number;
  readonly elapsedMs: number;
  readonly outcomesFile: string;
}

/** Counts the outcome lines: the summary of a resumed run is the whole input's, not this run's. */
export function summarize(lines: readonly OutcomeLine[]): Summary {
  const rejected = new Map<string, number>();
  const runs = new Set<string>();
  const counts = { loaded: 0, skipped: 0, failed: 0, pending: 0 };
  for (const line of lines) {
    if (line.runId !== null) runs.add(line.runId);
    if (line.outcome === 'rejected') {
      const reason = line.reason ?? 'unknown';
      rejected.set(reason, (rejected.get(reason) ?? 0) + 1);
    } else {
      counts[line.outcome] += 1;
    }
  }
  return {
    received: lines.length,
    ...counts,
    rejected: [...rejected].sort(([left], [right]) => (left < right ? -1 : 1)),
    runs: runs.size,
  };
}

function seconds(milliseconds: number): string {
  return `${(milliseconds / 1000).toFixed(1)} s`;
}

/** The table printed at the end: one row per count, rejections one row per reason. */
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
    ['batches', String(context.batches)],
    ['batches sent now', String(context.batchesSentNow)],
    ['elapsed', seconds(context.elapsedMs)],
  ];
  const rows = [
    ['outcome', 'records'] as const,
    ...counts.map(([label, count]) => [label, String(count)] as const),
    ...facts,
  ];
  const labelWidth = Math.max(...rows.map(([label]) => label.length));
  const valueWidth = Math.max(...rows.map(([, value]) => value.length));
  const table = rows.map(
    ([label, value]) => `${label.padEnd(labelWidth)}  ${value.padStart(valueWidth)}`,
  );
  return `${table.join('\n')}\noutcomes written to ${context.outcomesFile}\n`;
}
