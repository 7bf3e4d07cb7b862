import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { findIngestRun, markIngestRunFailed } from '../../../lib/db/repositories/ingestRuns.ts';
import { IdempotencyConflictError, InputValidationError } from '../../../lib/errors.ts';
import {
  type BatchRequest,
  IDEMPOTENCY_TTL_SECONDS,
  type IntakeDependencies,
  submitBatch,
} from '../../../lib/pipeline/intake.ts';
import { ENDED_EXECUTION_CODES } from '../../../lib/pipeline/runExecutions.ts';
import { executionName } from '../../../lib/workflow/workflowStarter.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { flatRecord, useTestPipeline } from '../../helpers/pipeline.ts';
import { thrownBy } from '../../helpers/thrown.ts';
import { RecordingStarter } from '../../helpers/workflowStarters.ts';

function batch(records: readonly unknown[], actor: string, idempotencyKey?: string): BatchRequest {
  const parsed = { records };
  return {
    raw: JSON.stringify(parsed),
    contentType: 'application/json',
    actor,
    source: 'api',
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
  };
}

/** Waits until `n` other sessions of this database wait for a lock. */
async function waitForLockWaiters(client: pg.Client, n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    // Inside a transaction the statistics are a snapshot: take a fresh one each time.
    await client.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    );
    if (rows[0]!.n >= n) return;
    if (Date.now() > deadline) throw new Error(`only ${rows[0]!.n} of ${n} sessions wait`);
    await sleep(20);
  }
}

/** Each test submits as an actor of its own, so its rows are told apart by actor. */
const freshActor = (name: string) => `system:${name}-${randomUUID().slice(0, 8)}`;

describe('submitBatch with an Idempotency-Key', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);

  const intake = (starter: RecordingStarter): IntakeDependencies => ({
    ...pipeline.deps,
    workflow: starter,
    maxRecordsPerBatch: 10,
  });

  async function runsOf(actor: string): Promise<string[]> {
    const { rows } = await database.pool.query<{ id: string }>(
      'SELECT id FROM ingest_runs WHERE actor = $1 ORDER BY created_at',
      [actor],
    );
    return rows.map((row) => row.id);
  }

  async function keyOf(actor: string, key: string) {
    const { rows } = await database.pool.query<{
      run_id: string;
      ttl: number;
    }>(
      `SELECT run_id, extract(epoch FROM expires_at - created_at)::int AS ttl
       FROM idempotency_keys WHERE actor = $1 AND key = $2`,
      [actor, key],
    );
    return rows;
  }

  it('answers the same key and body again with the same run, replayed, started once', async () => {
    // Prepare
    const actor = freshActor('idem-replay');
    const starter = new RecordingStarter();
    const request = batch([flatRecord({ mrn: 'MRN-IDEM-REPLAY' })], actor, 'order-2024-001');
    const first = await submitBatch(intake(starter), request);

    // Act
    const again = await submitBatch(intake(starter), request);
    const third = await submitBatch(intake(starter), { ...request });

    // Assess
    expect(first).toStrictEqual({
      runId: expect.any(String),
      outcome: 'accepted',
      status: 'queued',
    });
    expect(again).toStrictEqual({ runId: first.runId, outcome: 'replayed', status: 'queued' });
    expect(third).toStrictEqual({ runId: first.runId, outcome: 'replayed', status: 'queued' });
    expect(starter.calls).toStrictEqual([{ runId: first.runId, attempt: 0 }]);
    expect(await runsOf(actor)).toEqual([first.runId]);
    expect(await keyOf(actor, 'order-2024-001')).toEqual([
      { run_id: first.runId, ttl: IDEMPOTENCY_TTL_SECONDS },
    ]);
  });

  it.each([
    ['other records', [flatRecord({ mrn: 'MRN-IDEM-OTHER' })]],
    ['one more record', [flatRecord({ mrn: 'MRN-IDEM-BODY' }), flatRecord({ mrn: 'MRN-IDEM-2' })]],
    ['the same record with another name', [flatRecord({ mrn: 'MRN-IDEM-BODY', name: 'Jo Doe' })]],
  ])(
    'refuses the same key with %s: IdempotencyConflictError (422), no new run',
    async (_, records) => {
      // Prepare
      const actor = freshActor('idem-conflict');
      const starter = new RecordingStarter();
      const first = await submitBatch(
        intake(starter),
        batch([flatRecord({ mrn: 'MRN-IDEM-BODY' })], actor, 'reused-key'),
      );

      // Act
      const error = await thrownBy(() =>
        submitBatch(intake(starter), batch(records, actor, 'reused-key')),
      );

      // Assess
      expect(error).toBeInstanceOf(IdempotencyConflictError);
      expect((error as IdempotencyConflictError).statusCode).toBe(422);
      expect((error as IdempotencyConflictError).message).not.toContain('MRN-IDEM');
      expect(await runsOf(actor)).toEqual([first.runId]);
      expect(starter.calls).toHaveLength(1);
      expect((await keyOf(actor, 'reused-key')).map((row) => row.run_id)).toEqual([first.runId]);
    },
  );

  it('keeps the keys of different actors apart: the same key from another actor is a new run', async () => {
    // Prepare
    const [actorA, actorB] = [freshActor('idem-actor-a'), freshActor('idem-actor-b')];
    const starter = new RecordingStarter();
    const records = [flatRecord({ mrn: 'MRN-IDEM-ACTORS' })];
    const fromA = await submitBatch(intake(starter), batch(records, actorA, 'shared-key'));

    // Act
    const fromB = await submitBatch(intake(starter), batch(records, actorB, 'shared-key'));

    // Assess
    expect(fromB.outcome).toBe('accepted');
    expect(fromB.runId).not.toBe(fromA.runId);
    expect(await runsOf(actorA)).toEqual([fromA.runId]);
    expect(await runsOf(actorB)).toEqual([fromB.runId]);
    expect(starter.calls.map((call) => call.runId)).toEqual([fromA.runId, fromB.runId]);
  });

  it('treats a key whose time has run out as new: a new run, and the key now names it', async () => {
    // Prepare
    const actor = freshActor('idem-expired');
    const starter = new RecordingStarter();
    const request = batch([flatRecord({ mrn: 'MRN-IDEM-EXPIRED' })], actor, 'expiring-key');
    const first = await submitBatch(intake(starter), request);
    await database.pool.query(
      `UPDATE idempotency_keys SET expires_at = now() - interval '1 second'
       WHERE actor = $1 AND key = $2`,
      [actor, 'expiring-key'],
    );

    // Act
    const second = await submitBatch(intake(starter), request);
    const replay = await submitBatch(intake(starter), request);

    // Assess
    expect(second.outcome).toBe('accepted');
    expect(second.runId).not.toBe(first.runId);
    expect(replay).toMatchObject({ runId: second.runId, outcome: 'replayed' });
    expect(await runsOf(actor)).toEqual([first.runId, second.runId]);
    expect(starter.calls.map((call) => call.runId)).toEqual([first.runId, second.runId]);
    expect((await keyOf(actor, 'expiring-key')).map((row) => row.run_id)).toEqual([second.runId]);
  });

  it('gives five submissions racing with the same key and body one run, all five its id', async () => {
    // Prepare
    const actor = freshActor('idem-concurrent');
    const starter = new RecordingStarter();
    const request = batch([flatRecord({ mrn: 'MRN-IDEM-RACE' })], actor, 'race-key');
    // Inserts into idempotency_keys wait behind this lock; reads do not: all five get past
    // their first look-up, find nothing, and then race for the claim.
    const gate = new pg.Client({ connectionString: database.url });
    await gate.connect();
    let results: Array<{ runId: string; outcome: string }>;
    try {
      await gate.query('BEGIN');
      await gate.query('LOCK TABLE idempotency_keys IN SHARE ROW EXCLUSIVE MODE');
      const racing = Promise.all(
        Array.from({ length: 5 }, () => submitBatch(intake(starter), request)),
      );
      racing.catch(() => undefined);
      await waitForLockWaiters(gate, 5);

      // Act
      await gate.query('COMMIT');
      results = await racing;
    } finally {
      await gate.end();
    }

    // Assess
    const runs = await runsOf(actor);
    expect(runs).toHaveLength(1);
    expect(results.map((result) => result.runId)).toEqual(Array(5).fill(runs[0]));
    expect(results.filter((result) => result.outcome === 'accepted')).toHaveLength(1);
    expect(starter.calls).toStrictEqual([{ runId: runs[0], attempt: 0 }]);
    // The losers' data keys rolled back with their runs: no run key names a run that does not exist.
    const { rows } = await database.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM data_keys k
       WHERE k.purpose = 'run'
         AND NOT EXISTS (SELECT 1 FROM ingest_runs r WHERE r.id::text = k.encryption_context->>'runId')`,
    );
    expect(rows[0]!.n).toBe(0);
    // The losers' batches, written before they raced for the claim, went with their transactions.
    const files = readdirSync(pipeline.deps.payloadStore.location, {
      recursive: true,
      withFileTypes: true,
    })
      .filter((entry) => entry.isFile())
      .map((entry) => basename(entry.parentPath));
    const { rows: known } = await database.pool.query<{ id: string }>(
      'SELECT id::text FROM ingest_runs WHERE id = ANY($1::uuid[])',
      [files],
    );
    expect(files).toContain(runs[0]);
    expect(new Set(files)).toEqual(new Set(known.map((row) => row.id)));
  });

  it.each([
    ['a space', 'order 2024'],
    ['300 characters', 'k'.repeat(300)],
    ['a non-ASCII character', 'commande-é'],
    ['a newline', 'order\n2024'],
    ['nothing', ''],
  ])('refuses a key with %s with InputValidationError, storing nothing', async (_, key) => {
    // Prepare
    const actor = freshActor('idem-malformed');
    const starter = new RecordingStarter();

    // Act
    const error = await thrownBy(() =>
      submitBatch(intake(starter), batch([flatRecord({ mrn: 'MRN-IDEM-BADKEY' })], actor, key)),
    );

    // Assess
    expect(error).toBeInstanceOf(InputValidationError);
    const invalid = error as InputValidationError;
    expect(invalid.statusCode).toBe(400);
    expect(invalid.problems.map((problem) => problem.path)).toEqual(['/headers/idempotency-key']);
    if (key !== '') {
      expect(
        JSON.stringify({ message: invalid.message, problems: invalid.problems }),
      ).not.toContain(JSON.stringify(key).slice(1, -1));
    }
    expect(await runsOf(actor)).toEqual([]);
    expect(starter.calls).toEqual([]);
  });

  it('accepts a key of 255 visible ASCII characters, the limit', async () => {
    // Prepare
    const actor = freshActor('idem-longest');
    const starter = new RecordingStarter();
    const key = `${'!~'.repeat(127)}x`;

    // Act
    const first = await submitBatch(
      intake(starter),
      batch([flatRecord({ mrn: 'MRN-IDEM-LONG' })], actor, key),
    );

    // Assess
    expect(key).toHaveLength(255);
    expect(first.outcome).toBe('accepted');
    expect((await keyOf(actor, key)).map((row) => row.run_id)).toEqual([first.runId]);
  });

  describe('a retry whose run did not load the batch', () => {
    /** Intake that takes any run not advanced for `idleSeconds` as idle (0: every unfinished run). */
    const retrying = (starter: RecordingStarter, idleSeconds: number): IntakeDependencies => ({
      ...intake(starter),
      runIdleSeconds: idleSeconds,
    });

    it('re-drives a failed run, so that the same key loads the batch', async () => {
      // Prepare
      const actor = freshActor('idem-failed');
      const starter = new RecordingStarter();
      const request = batch([flatRecord({ mrn: 'MRN-IDEM-FAILED' })], actor, 'retry-failed');
      const first = await submitBatch(intake(starter), request);
      await markIngestRunFailed(database.pool, first.runId, 'stage-timeout');

      // Act
      const retry = await submitBatch(intake(starter), request);

      // Assess
      expect(retry).toStrictEqual({ runId: first.runId, outcome: 'redriven', status: 'running' });
      expect(starter.calls).toEqual([
        { runId: first.runId, attempt: 0 },
        { runId: first.runId, attempt: 1 },
      ]);
      expect((await findIngestRun(database.pool, first.runId))?.redrives).toBe(1);
      expect(await runsOf(actor)).toEqual([first.runId]);
    });

    it('starts the execution of a stranded run again under its name, when it is gone', async () => {
      // Prepare: the run was committed, but its execution never came to exist.
      const actor = freshActor('idem-stranded');
      const starter = new RecordingStarter();
      const request = batch([flatRecord({ mrn: 'MRN-IDEM-STRANDED' })], actor, 'retry-stranded');
      const first = await submitBatch(intake(starter), request);
      starter.states.set(executionName(first.runId, 0), 'MISSING');

      // Act
      const early = await submitBatch(retrying(starter, 3600), request);
      const idle = await submitBatch(retrying(starter, 0), request);

      // Assess
      expect(early.outcome).toBe('replayed');
      expect(idle).toStrictEqual({ runId: first.runId, outcome: 'resumed', status: 'queued' });
      expect(starter.calls).toEqual([
        { runId: first.runId, attempt: 0 },
        { runId: first.runId, attempt: 0 },
      ]);
    });

    it.each([
      ['FAILED', 'execution-failed'],
      ['TIMED_OUT', 'execution-timed-out'],
      ['ABORTED', 'execution-aborted'],
      ['SUCCEEDED', 'execution-ended'],
    ] as const)(
      'fails and re-drives a run whose execution ended %s without ending it',
      async (state, code) => {
        // Prepare
        const actor = freshActor(`idem-${state.toLowerCase()}`);
        const starter = new RecordingStarter();
        const request = batch([flatRecord({ mrn: `MRN-IDEM-${state}` })], actor, `ended-${state}`);
        const first = await submitBatch(intake(starter), request);
        starter.states.set(executionName(first.runId, 0), state);

        // Act
        const retry = await submitBatch(retrying(starter, 0), request);

        // Assess
        expect(retry).toStrictEqual({ runId: first.runId, outcome: 'redriven', status: 'running' });
        expect(starter.calls.at(-1)).toEqual({ runId: first.runId, attempt: 1 });
        expect(ENDED_EXECUTION_CODES[state]).toBe(code);
        // Re-driven at once: only the re-driven execution's end is announced.
        const events = await database.pool.query(
          'SELECT 1 FROM pipeline_events WHERE run_id = $1',
          [first.runId],
        );
        expect(events.rowCount).toBe(0);
      },
    );

    it('leaves a run whose execution is still running as it is', async () => {
      // Prepare
      const actor = freshActor('idem-running');
      const starter = new RecordingStarter();
      const request = batch([flatRecord({ mrn: 'MRN-IDEM-RUNNING' })], actor, 'retry-running');
      const first = await submitBatch(intake(starter), request);

      // Act
      const retry = await submitBatch(retrying(starter, 0), request);

      // Assess
      expect(retry).toStrictEqual({ runId: first.runId, outcome: 'replayed', status: 'queued' });
      expect(starter.calls).toHaveLength(1);
    });
  });
});
