/** A function serverless.yml runs on a `schedule` event, as `npm start` runs it too. */
export interface ScheduledFunction {
  /** Its name in serverless.yml. */
  readonly name: string;
  /** What it is, in the line a failed pass prints. */
  readonly title: string;
  /** Its rule's rate. */
  readonly everyMs: number;
  /** The line worth printing about what a pass returned, if any. */
  readonly report: (result: unknown) => string | undefined;
}

const MINUTE_MS = 60 * 1000;

/** Every scheduled function of serverless.yml, at its rule's rate (a deploy test holds them to it). */
export const SCHEDULED_FUNCTIONS: readonly ScheduledFunction[] = [
  {
    name: 'reconcileRuns',
    title: 'the run reconciler',
    everyMs: 5 * MINUTE_MS,
    report: (result) => {
      const summary = result as Record<string, number> | null;
      const acted = (summary?.['resumed'] ?? 0) + (summary?.['failed'] ?? 0);
      return acted > 0 ? `Reconciled idle runs: ${JSON.stringify(summary)}` : undefined;
    },
  },
  {
    name: 'checkpointAudit',
    title: 'the audit checkpoint',
    everyMs: 5 * MINUTE_MS,
    report: (result) => {
      const outcome = result as { written?: boolean; reason?: string } | null;
      return outcome?.reason === 'seal-forged'
        ? 'Audit checkpoint refused: the newest seal does not verify (GET /api/v1/audit/verify)'
        : undefined;
    },
  },
  {
    name: 'purgeExpired',
    title: 'the purge of expired rows',
    everyMs: 60 * MINUTE_MS,
    report: (result) => {
      const counts = Object.values((result ?? {}) as Record<string, number>);
      return counts.some((count) => count > 0)
        ? `Purged expired rows: ${JSON.stringify(result)}`
        : undefined;
    },
  },
];

export interface ScheduleOutput {
  readonly say: (line: string) => void;
  readonly warn: (line: string) => void;
}

/**
 * Invokes `fn` once now, for what a stop left undone (serverless-offline runs a schedule only on
 * the wall-clock boundaries of its rate, never at start), and then at its rate. A failed pass is
 * reported by its error's name (never its message, which could quote data) and the next one
 * runs. Returns what stops the schedule.
 */
export function runOnSchedule(
  fn: ScheduledFunction,
  invoke: (name: string, input: unknown) => Promise<unknown>,
  output: ScheduleOutput,
): () => void {
  const pass = async () => {
    try {
      const line = fn.report(await invoke(fn.name, {}));
      if (line !== undefined) output.say(line);
    } catch (error) {
      output.warn(`${fn.title} failed: ${error instanceof Error ? error.name : 'unknown error'}`);
    }
  };
  void pass();
  const timer = setInterval(() => void pass(), fn.everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
