import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import {
  type ApiResponse,
  call,
  counts,
  ingestBody,
  OBSERVER_APPLICATION,
  query,
  token,
} from './api.ts';
import { mapConcurrently } from './workerPool.ts';

/**
 * 1000 records in 20 batches of 50 (the stack's batch limit): the 10 batches of 300
 * make 60 concurrent runs, more than serverless-offline's worker threads get through on two
 * shared cores in the time a test may take.
 */
const BATCHES = 20;
const POSTING_CONCURRENCY = 4;
/** Every fifth record refuses data sharing; the first record of each batch repeats one before. */
const REFUSING_EVERY = 5;
/** The killing stops when every run has ended or after this long: the ASL's retries outlast it. */
const KILLING_AT_MOST_MS = 30_000;
const UNANSWERED_IN_A_ROW_MEANS_DOWN = 10;
/** Bounds the whole test: the stack is slow under the killing, on two shared cores. */
const RUNS_END_WITHIN_MS = 360_000;

interface Figures {
  killed: number;
  killRounds: number;
  unavailable: number;
  rateLimited: number;
  /** 502 and 504 from the embedded stack's gateway, retried with backoff as the ingest CLI does. */
  gatewayErrors: number;
  unanswered: number;
}

function mrnOf(tag: string, batch: number, record: number): string {
  return `MRN-FAULT-${tag}-${batch}-${record}`;
}

/** Batch `batch`: 50 flat records, unique but for record 0 repeating the batch before's record 1. */
function batchOf(tag: string, batch: number, size: number): Record<string, unknown>[] {
  return Array.from({ length: size }, (_, record) => {
    const repeats = batch > 0 && record === 0;
    const mrn = repeats ? mrnOf(tag, batch - 1, 1) : mrnOf(tag, batch, record);
    const refuses = !repeats && record % REFUSING_EVERY === REFUSING_EVERY - 1;
    return {
      resourceType: 'Patient',
      mrn,
      name: `Fault Patient ${batch} ${record}`,
      birthDate: '1980-02-29',
      gender: record % 2 === 0 ? 'female' : 'male',
      consent: { data_sharing: !refuses, research: false },
    };
  });
}

/** The MRNs a run stores: every consenting record's, once. */
function consentingMrns(batches: readonly Record<string, unknown>[][]): Set<string> {
  const mrns = new Set<string>();
  for (const records of batches) {
    for (const record of records) {
      const consent = record['consent'] as { data_sharing: boolean };
      if (consent.data_sharing) mrns.add(record['mrn'] as string);
    }
  }
  return mrns;
}

/**
 * Calls the API as the ingest CLI does: a 503 or 429 again after its Retry-After; a 502, a
 * 504 or a dropped socket again after a pause (the same Idempotency-Key makes a POST safe).
 */
async function callRetrying(
  figures: Figures,
  send: () => Promise<ApiResponse>,
  deadline: number,
): Promise<ApiResponse> {
  let unansweredInARow = 0;
  for (;;) {
    let response: ApiResponse;
    try {
      response = await send();
    } catch (error) {
      figures.unanswered += 1;
      unansweredInARow += 1;
      // Ten refusals in a row: the stack is gone, and waiting out the deadline would hide it.
      if (unansweredInARow >= UNANSWERED_IN_A_ROW_MEANS_DOWN || Date.now() > deadline) throw error;
      await delay(1_000);
      continue;
    }
    unansweredInARow = 0;
    if (Date.now() > deadline) return response;
    if (response.status === 502 || response.status === 504) {
      figures.gatewayErrors += 1;
      await delay(1_000);
      continue;
    }
    if (response.status !== 503 && response.status !== 429) return response;
    if (response.status === 503) figures.unavailable += 1;
    else figures.rateLimited += 1;
    const seconds = Number(response.headers.get('retry-after') ?? 'NaN');
    expect(Number.isInteger(seconds) && seconds >= 1, 'a retryable answer says when').toBe(true);
    await delay(seconds * 1_000);
  }
}

/**
 * Terminates every backend of the stack's database but its own, every 0.5-1 s, until stopped.
 * Its own connection can die too (a backend it counted): it then connects again.
 */
function startKilling(figures: Figures, forMs: number): { stop: () => Promise<void> } {
  let stopped = false;
  const until = Date.now() + forMs;
  const loop = (async () => {
    let killer: pg.Client | undefined;
    while (!stopped && Date.now() < until) {
      try {
        if (killer === undefined) {
          killer = new pg.Client({ connectionString: inject('stackDatabaseUrl') });
          killer.on('error', () => undefined);
          await killer.connect();
        }
        const { rows } = await killer.query<{ killed: number }>(
          `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS killed
             FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND application_name <> $1`,
          [OBSERVER_APPLICATION],
        );
        figures.killed += rows[0]?.killed ?? 0;
        figures.killRounds += 1;
      } catch {
        await killer?.end().catch(() => undefined);
        killer = undefined;
      }
      await delay(500 + Math.random() * 500);
    }
    await killer?.end().catch(() => undefined);
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** Waits until every run has ended by the database's account (cheap to ask while it is busy). */
async function runsEnded(runIds: readonly string[], deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    try {
      const [row] = await query<{ open: number }>(
        `SELECT count(*) FILTER (WHERE status NOT IN ('succeeded', 'failed'))::int AS open
           FROM ingest_runs WHERE id = ANY($1::uuid[])`,
        [runIds],
      );
      if (row?.open === 0) return;
    } catch {
      // Killed along with the stack's connections: ask again.
    }
    await delay(2_000);
  }
}

/** Lines of the stack's log written since `offset` that match `pattern`. */
function logLinesSince(offset: number, pattern: RegExp): string[] {
  return readFileSync(inject('stackLogFile'))
    .subarray(offset)
    .toString('utf8')
    .split('\n')
    .filter((line) => pattern.test(line));
}

describe('the stack while the database drops its connections every 0.5-1 s', () => {
  it(
    'stays up, answers 503 with Retry-After, and ends every accepted run succeeded with exact counts',
    async () => {
      // Prepare
      const tag = randomUUID().slice(0, 8);
      const size = inject('maxRecordsPerBatch');
      const batches = Array.from({ length: BATCHES }, (_, batch) => batchOf(tag, batch, size));
      const expectedMrns = consentingMrns(batches);
      const writer = await token(['system/Patient.c']);
      const before = await counts();
      const logOffset = statSync(inject('stackLogFile')).size;
      const figures: Figures = {
        killed: 0,
        killRounds: 0,
        unavailable: 0,
        rateLimited: 0,
        gatewayErrors: 0,
        unanswered: 0,
      };
      const started = Date.now();

      // Act: post every batch while the killing goes on, then wait for the runs under it
      const killing = startKilling(figures, KILLING_AT_MOST_MS);
      let runIds: string[];
      try {
        const accepted = await mapConcurrently(batches, POSTING_CONCURRENCY, (records) => {
          const idempotencyKey = randomUUID();
          return callRetrying(
            figures,
            () =>
              call('POST', '/api/v1/ingest', {
                token: writer,
                body: ingestBody(records),
                headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
              }),
            started + RUNS_END_WITHIN_MS,
          );
        });
        expect(accepted.map((response) => response.status)).toStrictEqual(batches.map(() => 202));
        runIds = accepted.map((response) => response.json.runId as string);
        await runsEnded(runIds, started + RUNS_END_WITHIN_MS);
      } finally {
        await killing.stop();
      }
      const elapsedSeconds = Math.round((Date.now() - started) / 1000);
      // Every run as a client sees it, through the API, once the killing is over.
      const reader = await token(['system/Patient.c']);
      const statuses = await mapConcurrently(runIds, 4, async (runId) => {
        const response = await callRetrying(
          figures,
          () => call('GET', `/api/v1/runs/${runId}`, { token: reader }),
          Date.now() + 60_000,
        );
        return response.status === 200
          ? (response.json.status as string)
          : `HTTP ${response.status}`;
      });
      const health = await call('GET', '/health');
      const after = await counts();
      const creates = await query<{ resource_id: string; creates: number }>(
        `SELECT resource_id, count(*)::int AS creates FROM audit_log
          WHERE action = 'CREATE' AND resource_type = 'Patient' AND run_id = ANY($1::uuid[])
          GROUP BY resource_id`,
        [runIds],
      );
      const auditor = await token(['system/AuditEvent.r']);
      const verification = await call('GET', '/api/v1/audit/verify', { token: auditor });
      const crashes = logLinesSince(logOffset, /Uncaught exception|exited unexpectedly/);
      const stageRetries = logLinesSince(logOffset, /stage failed.*"retryable":true/);
      console.info(
        `database faults: ${figures.killed} backends killed in ${figures.killRounds} rounds; ` +
          `${runIds.length} runs accepted, ${statuses.filter((s) => s === 'succeeded').length} succeeded ` +
          `in ${elapsedSeconds} s; ${figures.unavailable} answers 503, ${figures.rateLimited} answers 429, ` +
          `${figures.gatewayErrors} answers 502/504, ${figures.unanswered} requests unanswered; ` +
          `${stageRetries.length} retryable stage failures logged`,
      );

      // Assess
      expect(crashes).toStrictEqual([]);
      expect(health.status).toBe(200);
      expect(figures.killed).toBeGreaterThan(0);
      expect(statuses).toStrictEqual(runIds.map(() => 'succeeded'));
      expect(after.patients - before.patients).toBe(expectedMrns.size);
      expect(creates).toHaveLength(expectedMrns.size);
      expect(creates.filter((row) => row.creates !== 1)).toStrictEqual([]);
      expect(verification.status).toBe(200);
      expect(verification.json).toMatchObject({ valid: true });
    },
    RUNS_END_WITHIN_MS + 60_000,
  );
});
