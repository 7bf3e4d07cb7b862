import type { Logger } from '@aws-lambda-powertools/logger';
import type { AuditMac } from '../crypto/auditMac.ts';
import type { Pool } from '../db/pool.ts';
import { newestAuditSeal, verifySeal } from '../db/repositories/auditLog.ts';
import { displayableErrorName } from '../errors.ts';

/**
 * A signed statement, kept outside the database, that the audit chain reached `seq` with
 * `hash` at `at`. Whoever owns the database can delete rows after it, but not the checkpoint
 * (S3 Object Lock in AWS), and cannot forge a later one without the MAC key.
 */
export interface AuditCheckpoint {
  readonly seq: string;
  readonly hash: Buffer;
  readonly at: Date;
  readonly mac: Buffer;
  readonly macKeyId: string;
}

/**
 * Where checkpoints are kept: S3 with Object Lock in AWS (S3CheckpointStore), a directory in
 * embedded mode (DirectoryCheckpointStore). `latest` is the one with the highest seq, so a
 * checkpoint of a chain moved back never hides the one before it.
 */
export interface CheckpointStore {
  /** Where the checkpoints are, for a message or a canary sweep: a bucket URL or a directory. */
  readonly location: string;
  write(checkpoint: AuditCheckpoint): Promise<void>;
  latest(): Promise<AuditCheckpoint | undefined>;
}

/** What a checkpoint's MAC covers. */
export function checkpointMessage(seq: string, hash: Buffer, at: Date): Buffer {
  return Buffer.from(
    `healthcare-etl/audit-checkpoint/v1|${seq}|${hash.toString('hex')}|${at.toISOString()}`,
    'utf8',
  );
}

const MAX_SEQ = 9_223_372_036_854_775_807n;

/**
 * A checkpoint's name: the seq inverted and zero-padded, so names sort newest first (S3 lists
 * keys in ascending order: ListObjectsV2 with MaxKeys 1 returns the newest), then the seq itself.
 */
export function checkpointName(seq: string): string {
  return `${(MAX_SEQ - BigInt(seq)).toString().padStart(19, '0')}-${seq}.json`;
}

/** The stored form: identifiers, a hash, a time and a MAC, never anything a row records. */
export function encodeCheckpoint(checkpoint: AuditCheckpoint): string {
  return JSON.stringify({
    seq: checkpoint.seq,
    hash: checkpoint.hash.toString('hex'),
    at: checkpoint.at.toISOString(),
    mac: checkpoint.mac.toString('base64'),
    macKeyId: checkpoint.macKeyId,
  });
}

/** The checkpoint a stored form holds; anything else is a CheckpointFormatError. */
export function decodeCheckpoint(text: string): AuditCheckpoint {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new CheckpointFormatError('an audit checkpoint is not JSON', { cause: error });
  }
  const { seq, hash, at, mac, macKeyId } = (parsed ?? {}) as Record<string, unknown>;
  if (
    typeof seq !== 'string' ||
    !/^[1-9]\d{0,18}$/.test(seq) ||
    // A seq is a bigint: past its range the verification's query would fail, not report.
    BigInt(seq) > 9_223_372_036_854_775_807n ||
    typeof hash !== 'string' ||
    !/^[0-9a-f]{64}$/.test(hash) ||
    typeof at !== 'string' ||
    Number.isNaN(Date.parse(at)) ||
    typeof mac !== 'string' ||
    typeof macKeyId !== 'string'
  ) {
    throw new CheckpointFormatError('an audit checkpoint is malformed');
  }
  return {
    seq,
    hash: Buffer.from(hash, 'hex'),
    at: new Date(at),
    mac: Buffer.from(mac, 'base64'),
    macKeyId,
  };
}

export class CheckpointFormatError extends Error {
  override readonly name = 'CheckpointFormatError';
}

export interface CheckpointDependencies {
  readonly pool: Pool;
  readonly auditMac: AuditMac;
  readonly auditCheckpoints: CheckpointStore;
  readonly now: () => Date;
}

export type CheckpointOutcome =
  | { readonly written: true; readonly seq: string }
  | { readonly written: false; readonly reason: 'empty' | 'unchanged' | 'seal-forged' };

/**
 * Checkpoints the newest seal, once its MAC verifies (a recomputed chain is never
 * checkpointed), unless the latest checkpoint already names its seq: two MAC calls at most.
 */
export async function writeAuditCheckpoint(
  deps: CheckpointDependencies,
): Promise<CheckpointOutcome> {
  const seal = await newestAuditSeal(deps.pool);
  if (seal === undefined) return { written: false, reason: 'empty' };
  const latest = await deps.auditCheckpoints.latest();
  if (latest !== undefined && BigInt(latest.seq) >= BigInt(seal.seq)) {
    return { written: false, reason: 'unchanged' };
  }
  if (!(await verifySeal(deps.auditMac, seal))) {
    return { written: false, reason: 'seal-forged' };
  }
  const at = deps.now();
  const mac = await deps.auditMac.generateMac(checkpointMessage(seal.seq, seal.hash, at));
  await deps.auditCheckpoints.write({
    seq: seal.seq,
    hash: seal.hash,
    at,
    mac,
    macKeyId: deps.auditMac.keyId,
  });
  return { written: true, seq: seal.seq };
}

/**
 * The checkpoint at a run's end (Publish, which every run reaches, succeeded or failed). A
 * failure must not fail the run: it is logged by its error's name, and the scheduled
 * checkpointAudit writes the next one within its interval.
 */
export async function checkpointAtRunEnd(
  deps: CheckpointDependencies & { readonly logger: Logger },
): Promise<void> {
  try {
    const outcome = await writeAuditCheckpoint(deps);
    if (!outcome.written && outcome.reason === 'seal-forged') {
      deps.logger.error('audit checkpoint refused: the newest seal does not verify');
    }
  } catch (error) {
    deps.logger.warn('audit checkpoint failed', {
      errorName: error instanceof Error ? displayableErrorName(error.name) : 'unknown',
    });
  }
}
