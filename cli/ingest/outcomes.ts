import type { BatchPlan } from './batchPlan.ts';
import type { RecordIdentity } from './inputRecords.ts';

export type Outcome = 'loaded' | 'rejected' | 'skipped' | 'failed' | 'pending';

export interface RecordOutcome {
  readonly outcome: Outcome;
  /** The rejection reason, the failed run's error code, or null. */
  readonly reason: string | null;
}

/** What a rejection tells about a record: its position in the batch and why. */
export interface RecordRejection {
  readonly recordIndex: number;
  readonly reason: string;
}

/** A batch whose outcome is known: its run (none when the API refused the batch) and its records'. */
export interface BatchResult {
  readonly runId: string | null;
  /** Aligned with the batch's records. */
  readonly outcomes: readonly RecordOutcome[];
}

export interface OutcomeLine extends RecordIdentity, RecordOutcome {
  readonly runId: string | null;
}

/** The API's reason for records it did not load because it does not load their type. */
const UNSUPPORTED_TYPE = 'unsupported-type';
/** The CLI's reason for a record it never sent: over the body limit on its own. */
export const TOO_LARGE = 'too-large';

/** Every record of a batch that did not load, for `reason`. */
export function failedOutcomes(recordCount: number, reason: string): RecordOutcome[] {
  return Array.from({ length: recordCount }, () => ({ outcome: 'failed', reason }));
}

/**
 * The records of a succeeded run: a record with a rejection was rejected (skipped for an
 * unsupported type), any other was loaded. The first rejection of a record names its reason.
 */
export function succeededOutcomes(
  recordCount: number,
  rejections: readonly RecordRejection[],
): RecordOutcome[] {
  const outcomes: RecordOutcome[] = Array.from({ length: recordCount }, () => ({
    outcome: 'loaded',
    reason: null,
  }));
  const seen = new Set<number>();
  for (const { recordIndex, reason } of rejections) {
    // An index outside the batch would be the server's mistake; it names no record of ours.
    if (seen.has(recordIndex) || recordIndex < 0 || recordIndex >= recordCount) continue;
    seen.add(recordIndex);
    outcomes[recordIndex] = {
      outcome: reason === UNSUPPORTED_TYPE ? 'skipped' : 'rejected',
      reason,
    };
  }
  return outcomes;
}

/** One line per input record, in input order; a record of a batch with no result yet is pending. */
export function outcomeLines(
  plan: Pick<BatchPlan, 'records' | 'placements'>,
  results: ReadonlyMap<number, BatchResult>,
): OutcomeLine[] {
  return plan.records.map((record, at) => {
    const identity = {
      file: record.file,
      line: record.line,
      resourceType: record.resourceType,
      resourceId: record.resourceId,
    };
    const placement = plan.placements[at];
    if (placement === undefined || placement.kind === 'too-large') {
      return { ...identity, outcome: 'rejected', reason: TOO_LARGE, runId: null };
    }
    const result = results.get(placement.batch);
    const outcome = result?.outcomes[placement.position];
    if (result === undefined || outcome === undefined) {
      return { ...identity, outcome: 'pending', reason: null, runId: null };
    }
    return { ...identity, ...outcome, runId: result.runId };
  });
}

/** The outcome file: JSON lines with a fixed key order, so files diff cleanly between runs. */
export function outcomeFileText(lines: readonly OutcomeLine[]): string {
  return lines
    .map(
      (line) =>
        `${JSON.stringify({
          file: line.file,
          line: line.line,
          resourceType: line.resourceType,
          resourceId: line.resourceId,
          outcome: line.outcome,
          reason: line.reason,
          runId: line.runId,
        })}\n`,
    )
    .join('');
}
