import type { Counts } from '../db/repositories/ingestRuns.ts';
import r4ResourceTypes from '../fhir/r4/resourceTypes.json' with { type: 'json' };

/** The pipeline's stages in order. */
export const STAGES = ['extract', 'validate', 'consentCheck', 'transform', 'load'] as const;
export type StageName = (typeof STAGES)[number];

/**
 * What became of a submitted batch: `accepted` by a new run; or, for a retry with the same
 * Idempotency-Key and body, that run `replayed` as it is, `redriven` because it had failed,
 * or `resumed` because its execution was gone.
 */
export const SUBMISSION_OUTCOMES = ['accepted', 'replayed', 'redriven', 'resumed'] as const;
export type SubmissionOutcome = (typeof SUBMISSION_OUTCOMES)[number];

export type RunCounts = Counts;

/** The only thing that crosses between states: identifiers and counts, never PHI. */
export interface StageResult {
  readonly runId: string;
  readonly counts: RunCounts;
}

/** What Publish and MarkFailed hand to the state machine's final Choice. */
export interface RunOutcome extends StageResult {
  readonly status: 'succeeded' | 'failed';
}

/** Resource types whose name may be recorded on a rejection; anything else is the sender's text. */
const KNOWN_RESOURCE_TYPES: ReadonlySet<string> = new Set(r4ResourceTypes);

/** The R4 resource type a record names, or null when it names none (its text may be PHI). */
export function recordableResourceType(value: unknown): string | null {
  return typeof value === 'string' && KNOWN_RESOURCE_TYPES.has(value) ? value : null;
}
