import type { Queryable } from '../pool.ts';

export const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
/** Where a batch came in: the HTTP API or the ingest queue. */
export const RUN_SOURCES = ['api', 'queue'] as const;
export type RunSource = (typeof RUN_SOURCES)[number];
export type InputFormat = 'flat' | 'fhir-bundle' | 'ndjson';
export type Counts = Readonly<Record<string, number>>;

export interface IngestRun {
  readonly id: string;
  readonly status: RunStatus;
  readonly currentStage: string | null;
  readonly format: InputFormat;
  readonly source: string;
  readonly actor: string;
  readonly dataKeyId: string;
  readonly counts: Counts;
  /** Milliseconds each finished stage took; a stage present here has committed its output. */
  readonly stageTimings: Counts;
  readonly errorCode: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly finishedAt: Date | null;
  readonly publishedAt: Date | null;
  /** How many times the run was re-driven after failing. */
  readonly redrives: number;
}

export interface NewIngestRun {
  readonly id: string;
  readonly format: InputFormat;
  readonly source: string;
  readonly actor: string;
  readonly dataKeyId: string;
  readonly counts: Counts;
  readonly idempotencyKey?: string;
  readonly bodyHash?: Buffer;
}

interface IngestRunRecord {
  id: string;
  status: RunStatus;
  current_stage: string | null;
  format: InputFormat;
  source: string;
  actor: string;
  data_key_id: string;
  counts: Counts;
  stage_timings: Counts;
  error_code: string | null;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
  published_at: Date | null;
  redrives: number;
}

const COLUMNS = `id, status, current_stage, format, source, actor, data_key_id, counts, stage_timings,
  error_code, created_at, updated_at, finished_at, published_at, redrives`;

function fromRecord(row: IngestRunRecord): IngestRun {
  return {
    id: row.id,
    status: row.status,
    currentStage: row.current_stage,
    format: row.format,
    source: row.source,
    actor: row.actor,
    dataKeyId: row.data_key_id,
    counts: row.counts,
    stageTimings: row.stage_timings,
    errorCode: row.error_code,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
    publishedAt: row.published_at,
    redrives: row.redrives,
  };
}

export async function insertIngestRun(db: Queryable, run: NewIngestRun): Promise<void> {
  await db.query(
    `INSERT INTO ingest_runs (id, status, format, source, actor, data_key_id, counts, idempotency_key, body_hash)
     VALUES ($1, 'queued', $2, $3, $4, $5, $6, $7, $8)`,
    [
      run.id,
      run.format,
      run.source,
      run.actor,
      run.dataKeyId,
      run.counts,
      run.idempotencyKey ?? null,
      run.bodyHash ?? null,
    ],
  );
}

/** Whose runs a read may return: those one subject submitted (its tenant's), or every run. */
export type RunOwner = { readonly submitter: string } | 'every-tenant';

/** The run when `owner` may see it: another tenant's run is as absent as an unknown one. */
export async function findOwnedRun(
  db: Queryable,
  id: string,
  owner: RunOwner,
): Promise<IngestRun | undefined> {
  const { rows } = await db.query<IngestRunRecord>(
    `SELECT ${COLUMNS} FROM ingest_runs WHERE id = $1 AND ($2::text IS NULL OR actor = $2)`,
    [id, owner === 'every-tenant' ? null : owner.submitter],
  );
  return rows[0] === undefined ? undefined : fromRecord(rows[0]);
}

export async function findIngestRun(db: Queryable, id: string): Promise<IngestRun | undefined> {
  const { rows } = await db.query<IngestRunRecord>(
    `SELECT ${COLUMNS} FROM ingest_runs WHERE id = $1`,
    [id],
  );
  return rows[0] === undefined ? undefined : fromRecord(rows[0]);
}

/** Reads the run and holds its row lock until the transaction ends: one stage commit at a time. */
export async function lockIngestRun(db: Queryable, id: string): Promise<IngestRun | undefined> {
  const { rows } = await db.query<IngestRunRecord>(
    `SELECT ${COLUMNS} FROM ingest_runs WHERE id = $1 FOR UPDATE`,
    [id],
  );
  return rows[0] === undefined ? undefined : fromRecord(rows[0]);
}

export interface StageCompletion {
  readonly stage: string;
  readonly elapsedMs: number;
  readonly counts: Counts;
  /** The status the run has after this stage: `running`, or `succeeded` after the last one. */
  readonly status: Extract<RunStatus, 'running' | 'succeeded'>;
}

export async function recordStageCompletion(
  db: Queryable,
  id: string,
  completion: StageCompletion,
): Promise<IngestRun> {
  const { rows } = await db.query<IngestRunRecord>(
    `UPDATE ingest_runs
     SET status = $2, current_stage = $3,
         counts = counts || $4::jsonb,
         stage_timings = stage_timings || jsonb_build_object($3::text, $5::numeric),
         finished_at = CASE WHEN $2 = 'succeeded' THEN now() ELSE finished_at END,
         updated_at = now()
     WHERE id = $1
     RETURNING ${COLUMNS}`,
    [id, completion.status, completion.stage, completion.counts, completion.elapsedMs],
  );
  const row = rows[0];
  if (row === undefined) throw new Error(`ingest run ${id} vanished`);
  return fromRecord(row);
}

/** Marks the run failed unless it already ended; returns the run as it now is. */
export async function markIngestRunFailed(
  db: Queryable,
  id: string,
  errorCode: string,
): Promise<IngestRun | undefined> {
  await db.query(
    `UPDATE ingest_runs
     SET status = 'failed', error_code = $2, finished_at = now(), updated_at = now()
     WHERE id = $1 AND status IN ('queued', 'running')`,
    [id, errorCode],
  );
  return findIngestRun(db, id);
}

/**
 * Fails an unfinished run whose execution `redrives` ended without ending it. Nothing changes
 * when the run ended meanwhile, or was re-driven to a later execution: true when it did fail.
 */
export async function failRunOfEndedExecution(
  db: Queryable,
  id: string,
  redrives: number,
  errorCode: string,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE ingest_runs
     SET status = 'failed', error_code = $3, finished_at = now(), updated_at = now()
     WHERE id = $1 AND status IN ('queued', 'running') AND redrives = $2`,
    [id, redrives, errorCode],
  );
  return rowCount === 1;
}

/**
 * Puts a failed run back to running for a re-drive, counting it; the stages that committed
 * stay done. Returns the new re-drive count, or undefined when the run is not failed.
 */
export async function reopenFailedRun(db: Queryable, id: string): Promise<number | undefined> {
  const { rows } = await db.query<{ redrives: number }>(
    `UPDATE ingest_runs
     SET status = 'running', error_code = NULL, finished_at = NULL, published_at = NULL,
         redrives = redrives + 1, updated_at = now()
     WHERE id = $1 AND status = 'failed'
     RETURNING redrives`,
    [id],
  );
  return rows[0]?.redrives;
}

/**
 * Runs still queued or running that no stage has advanced for `seconds`, the longest idle
 * first: the runs whose execution the reconciler checks.
 */
export async function listIdleRuns(
  db: Queryable,
  seconds: number,
  limit: number,
): Promise<IngestRun[]> {
  const { rows } = await db.query<IngestRunRecord>(
    `SELECT ${COLUMNS} FROM ingest_runs
     WHERE status IN ('queued', 'running') AND updated_at < now() - make_interval(secs => $1)
     ORDER BY updated_at LIMIT $2`,
    [seconds, limit],
  );
  return rows.map(fromRecord);
}

export async function markIngestRunPublished(db: Queryable, id: string): Promise<void> {
  await db.query(
    'UPDATE ingest_runs SET published_at = now(), updated_at = now() WHERE id = $1 AND published_at IS NULL',
    [id],
  );
}

/** A run's place in newest-first order: its creation time in microseconds since 1970, then its id. */
export interface RunPosition {
  /** Decimal digits: PostgreSQL keeps microseconds, which a Date would round away. */
  readonly createdAtMicros: string;
  readonly id: string;
}

export interface RunFilter {
  /** Only the runs this subject submitted; every tenant's when absent. */
  readonly submitter?: string;
  readonly statuses?: readonly RunStatus[];
  readonly source?: RunSource;
  /** Created at or after. */
  readonly from?: Date;
  /** Created before. */
  readonly to?: Date;
  /** Only the runs after this one in newest-first order. */
  readonly after?: RunPosition;
}

export interface PositionedRun {
  readonly run: IngestRun;
  readonly position: RunPosition;
}

/**
 * Runs newest first (ties by id, descending), filtered; served by ingest_runs_newest,
 * ingest_runs_status_newest and, for one submitter's, ingest_runs_submitter_newest.
 */
export async function listIngestRuns(
  db: Queryable,
  filter: RunFilter,
  limit: number,
): Promise<PositionedRun[]> {
  const { rows } = await db.query<IngestRunRecord & { created_micros: string }>(
    `SELECT ${COLUMNS}, (extract(epoch FROM created_at) * 1000000)::bigint AS created_micros
     FROM ingest_runs
     WHERE ($1::text[] IS NULL OR status = ANY($1))
       AND ($2::text IS NULL OR source = $2)
       AND ($3::timestamptz IS NULL OR created_at >= $3)
       AND ($4::timestamptz IS NULL OR created_at < $4)
       AND ($5::bigint IS NULL
         OR (created_at, id) < (timestamptz 'epoch' + $5::bigint * interval '1 microsecond', $6::uuid))
       AND ($8::text IS NULL OR actor = $8)
     ORDER BY created_at DESC, id DESC
     LIMIT $7`,
    [
      filter.statuses ?? null,
      filter.source ?? null,
      filter.from ?? null,
      filter.to ?? null,
      filter.after?.createdAtMicros ?? null,
      filter.after?.id ?? null,
      limit,
      filter.submitter ?? null,
    ],
  );
  return rows.map((row) => ({
    run: fromRecord(row),
    position: { createdAtMicros: row.created_micros, id: row.id },
  }));
}
