import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomically } from './atomicFile.ts';
import type { Outcome, RecordOutcome } from './outcomes.ts';

/** sent: posted, its run not seen to end yet; succeeded or failed: its run ended so. */
export type BatchStatus = 'sent' | 'succeeded' | 'failed';

/** What is kept of one batch, in a file of its own written once per change. */
export interface BatchProgress {
  readonly index: number;
  /** How many runs of this batch failed before this one (part of its Idempotency-Key). */
  readonly attempt: number;
  readonly status: BatchStatus;
  readonly runId: string;
  readonly errorCode: string | null;
  /** Aligned with the batch's records; empty while the batch is only sent. */
  readonly outcomes: readonly RecordOutcome[];
}

export interface ResumeState {
  readonly directory: string;
  readonly batchSize: number;
  /** Kept up to date by saveBatchProgress. */
  readonly batches: Map<number, BatchProgress>;
}

export interface StateIdentity {
  readonly stateDir: string;
  /** The input's base name, for people looking into the state directory. */
  readonly inputName: string;
  /** stateKey(resolved path, content hash). */
  readonly key: string;
}

export interface InputDescription {
  readonly input: string;
  readonly contentHash: string;
  readonly batchCount: number;
  readonly recordCount: number;
}

const VERSION = 1;
const HEADER_FILE = 'input.json';
const BATCH_FILE = /^batch-(\d+)\.json$/;
const STATUSES: readonly string[] = ['sent', 'succeeded', 'failed'];
const OUTCOMES: readonly string[] = ['loaded', 'rejected', 'skipped', 'failed', 'pending'];

function safeName(name: string): string {
  return name.replace(/[^\w.-]/g, '_');
}

function prefixOf(identity: StateIdentity): string {
  return `${safeName(identity.inputName)}.${identity.key}.b`;
}

/** One directory per input, content and batch size: other batches are other work. */
export function stateDirectory(identity: StateIdentity, batchSize: number): string {
  return join(identity.stateDir, `${prefixOf(identity)}${batchSize}`);
}

/** The batch size this input was last worked on with, if it was. */
export function savedBatchSize(identity: StateIdentity): number | undefined {
  if (!existsSync(identity.stateDir)) return undefined;
  const prefix = prefixOf(identity);
  const candidates = readdirSync(identity.stateDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && entry.name.startsWith(prefix))
    .map((entry) => ({
      batchSize: Number(entry.name.slice(prefix.length)),
      modified: statSync(join(identity.stateDir, entry.name)).mtimeMs,
    }))
    .filter((candidate) => Number.isSafeInteger(candidate.batchSize) && candidate.batchSize > 0)
    .sort((left, right) => right.modified - left.modified);
  return candidates[0]?.batchSize;
}

function isRecordOutcome(value: unknown): value is RecordOutcome {
  if (typeof value !== 'object' || value === null) return false;
  const { outcome, reason } = value as { outcome?: unknown; reason?: unknown };
  return (
    typeof outcome === 'string' &&
    OUTCOMES.includes(outcome as Outcome) &&
    (reason === null || typeof reason === 'string')
  );
}

/** A batch file as written by saveBatchProgress, or undefined: an unreadable one is sent again. */
export function parseBatchProgress(text: string): BatchProgress | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { index, attempt, status, runId, errorCode, outcomes } = value as Record<string, unknown>;
  const valid =
    Number.isSafeInteger(index) &&
    Number.isSafeInteger(attempt) &&
    typeof status === 'string' &&
    STATUSES.includes(status) &&
    typeof runId === 'string' &&
    (errorCode === null || typeof errorCode === 'string') &&
    Array.isArray(outcomes) &&
    outcomes.every(isRecordOutcome);
  if (!valid) return undefined;
  return {
    index: index as number,
    attempt: attempt as number,
    status: status as BatchStatus,
    runId,
    errorCode,
    outcomes,
  };
}

function batchFile(directory: string, index: number): string {
  return join(directory, `batch-${String(index).padStart(6, '0')}.json`);
}

/**
 * The input's saved progress at `batchSize`, or a fresh state: its directory is created and
 * described (input.json) before anything is sent.
 */
export function openResumeState(
  identity: StateIdentity,
  batchSize: number,
  description: InputDescription,
): ResumeState {
  const directory = stateDirectory(identity, batchSize);
  mkdirSync(directory, { recursive: true });
  const header = join(directory, HEADER_FILE);
  if (!existsSync(header)) {
    writeFileAtomically(
      header,
      `${JSON.stringify({ version: VERSION, batchSize, ...description }, null, 2)}\n`,
    );
  }
  const batches = new Map<number, BatchProgress>();
  for (const name of readdirSync(directory)) {
    const match = BATCH_FILE.exec(name);
    if (match === null) continue;
    const progress = parseBatchProgress(readFileSync(join(directory, name), 'utf8'));
    if (progress !== undefined && progress.index === Number(match[1])) {
      batches.set(progress.index, progress);
    }
  }
  return { directory, batchSize, batches };
}

/** Records one batch's progress; the file is replaced whole, so a crash never leaves half of it. */
export function saveBatchProgress(state: ResumeState, progress: BatchProgress): void {
  writeFileAtomically(batchFile(state.directory, progress.index), `${JSON.stringify(progress)}\n`);
  state.batches.set(progress.index, progress);
}
