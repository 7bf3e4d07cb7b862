import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  type RunningPostgres,
  randomPassword,
  startEmbeddedPostgres,
} from '../../local/embeddedPostgres.ts';
import { processTree, type RunningStack, startStack, stillRunning } from './stack.ts';

const BATCHES = 6;
/** Batches of different sizes move through the stages at different paces. */
const recordsIn = (batch: number) => 150 * (batch + 1);
const RECORDS = Array.from({ length: BATCHES }, (_, batch) => recordsIn(batch)).reduce(
  (sum, n) => sum + n,
);

function record(batch: number, index: number): Record<string, unknown> {
  return {
    resourceType: 'Patient',
    mrn: `MRN-CRASH-${batch}-${index}`,
    name: `Crash Patient ${batch} ${index}`,
    birthDate: '1980-02-03',
    gender: 'female',
    ssn: `900-${String(batch).padStart(2, '0')}-${String(index).padStart(4, '0')}`,
    consent: { data_sharing: true, research: false },
  };
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** SIGKILL to the stack and every process under it at once, as `kill -9` of its process group. */
function killHard(stack: RunningStack): void {
  const pid = stack.child.pid;
  if (pid === undefined) throw new Error('the stack has no pid');
  for (const member of processTree(pid)) {
    try {
      process.kill(member.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

interface RunRow {
  readonly id: string;
  readonly status: string;
  readonly current_stage: string | null;
  readonly published: boolean;
}

describe('a stack killed with SIGKILL mid-run, started again at once', () => {
  let postgres: RunningPostgres;
  let admin: pg.Client;
  const created: string[] = [];
  const clients: pg.Client[] = [];
  const stacks: RunningStack[] = [];

  beforeAll(async () => {
    postgres = await startEmbeddedPostgres({
      dataDir: join(tmpdir(), `etl-crash-pg-${process.pid}-${Date.now().toString(36)}`),
      persistent: false,
      password: randomPassword(),
      durable: false,
    });
    admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
  });

  afterEach(async () => {
    for (const stack of stacks.splice(0)) await stack.stop();
    for (const client of clients.splice(0)) await client.end().catch(() => undefined);
  });

  afterAll(async () => {
    await admin.end();
    await postgres.stop();
    for (const dir of created) rmSync(dir, { recursive: true, force: true });
  });

  /** A database of its own, a data dir and a port: one stack's world, kept across its restart. */
  async function world(name: string) {
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(postgres.url);
    url.pathname = `/${name}`;
    const dataDir = mkdtempSync(join(tmpdir(), `etl-${name}-`));
    created.push(dataDir);
    const database = new pg.Client({ connectionString: url.toString() });
    await database.connect();
    clients.push(database);
    const env = { DATABASE_URL: url.toString(), PORT: String(await freePort()), LOG_LEVEL: 'WARN' };
    return { dataDir, env, database };
  }

  async function post(stack: RunningStack, batch: number): Promise<string> {
    const records = Array.from({ length: recordsIn(batch) }, (_, index) => record(batch, index));
    const response = await fetch(`${stack.apiUrl}/api/v1/ingest`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${stack.devToken}`,
        'content-type': 'application/json',
        'idempotency-key': `crash-batch-${batch}`,
      },
      body: JSON.stringify({ records }),
    });
    const body = (await response.json()) as { runId: string };
    expect(response.status, JSON.stringify(body)).toBe(202);
    return body.runId;
  }

  async function runsOf(database: pg.Client): Promise<RunRow[]> {
    return (
      await database.query<RunRow>(
        'SELECT id, status, current_stage, published_at IS NOT NULL AS published FROM ingest_runs ORDER BY id',
      )
    ).rows;
  }

  /**
   * Every run succeeded, each of its records stored, audited and announced exactly once, and
   * no payload left behind: no row, and no file in the payload directory (an attempt the kill
   * cut short between its write and its commit included).
   */
  async function assertLoadedOnce(database: pg.Client, runIds: readonly string[], dataDir: string) {
    const { rows } = await database.query<{
      runs: number;
      succeeded: number;
      patients: number;
      distinct_mrns: number;
      patient_creates: number;
      succeeded_events: number;
      events: number;
      payloads: number;
      rejections: number;
    }>(
      `SELECT
         (SELECT count(*)::int FROM ingest_runs) AS runs,
         (SELECT count(*)::int FROM ingest_runs WHERE status = 'succeeded' AND id = ANY($1)) AS succeeded,
         (SELECT count(*)::int FROM patients) AS patients,
         (SELECT count(DISTINCT mrn_bidx)::int FROM patients) AS distinct_mrns,
         (SELECT count(*)::int FROM audit_log
            WHERE action = 'CREATE' AND resource_type = 'Patient' AND run_id = ANY($1)) AS patient_creates,
         (SELECT count(*)::int FROM pipeline_events WHERE type = 'ingest.run.succeeded') AS succeeded_events,
         (SELECT count(*)::int FROM pipeline_events) AS events,
         (SELECT count(*)::int FROM stage_payloads) AS payloads,
         (SELECT count(*)::int FROM rejections) AS rejections`,
      [runIds],
    );
    expect(rows[0]).toStrictEqual({
      runs: BATCHES,
      succeeded: BATCHES,
      patients: RECORDS,
      distinct_mrns: RECORDS,
      patient_creates: RECORDS,
      succeeded_events: BATCHES,
      events: BATCHES,
      payloads: 0,
      rejections: 0,
    });
    const payloadFiles = readdirSync(join(dataDir, 'payloads'), {
      recursive: true,
      withFileTypes: true,
    }).filter((entry) => entry.isFile());
    expect(payloadFiles.map((entry) => join(entry.parentPath, entry.name))).toEqual([]);
  }

  /** Waits for every run to succeed and every execution to end SUCCEEDED (Publish is its last Task). */
  async function allSucceeded(database: pg.Client, timeoutMs: number): Promise<number> {
    const started = Date.now();
    await until('every run to succeed and be published', timeoutMs, async () => {
      const runs = await runsOf(database);
      const executing = await database.query(
        `SELECT 1 FROM local_stepfunctions.executions WHERE status <> 'SUCCEEDED'`,
      );
      return runs.length === BATCHES &&
        runs.every((run) => run.status === 'succeeded' && run.published) &&
        executing.rowCount === 0
        ? true
        : undefined;
    });
    return Date.now() - started;
  }

  it('resumes every run where it was, in whatever stage, and loads each record once', {
    timeout: 300_000,
  }, async () => {
    // Prepare: several batches in flight, at different stages, when the stack dies.
    const { dataDir, env, database } = await world('etl_crash_stages');
    const first = await startStack({ dataDir, env });
    stacks.push(first);
    const tree = processTree(first.child.pid ?? 0);
    const runIds = await Promise.all(
      Array.from({ length: BATCHES }, (_, batch) => post(first, batch)),
    );
    // Killed once the unfinished runs are in different stages, one of them past Extract.
    const atKill = await until('runs in different stages', 120_000, async () => {
      const unfinished = (await runsOf(database)).filter((run) => run.status !== 'succeeded');
      const stages = new Set(unfinished.map((run) => run.current_stage));
      const pastExtract = unfinished.some(
        (run) => run.current_stage !== null && run.current_stage !== 'extract',
      );
      return stages.size >= 2 && pastExtract ? unfinished : undefined;
    });

    // Act
    killHard(first);
    await until('the killed stack to be gone', 10_000, async () =>
      stillRunning(tree).length === 0 ? true : undefined,
    );
    const second = await startStack({ dataDir, env });
    stacks.push(second);
    const resumedInMs = await allSucceeded(database, 180_000);

    // Assess
    const stagesAtKill = [...new Set(atKill.map((run) => run.current_stage ?? 'none yet'))];
    expect(stagesAtKill.length).toBeGreaterThanOrEqual(2);
    await assertLoadedOnce(database, runIds, dataDir);
    // Runs that ended in Publish's wake may finish before the kill; the rest are resumed.
    expect(readFileSync(second.logFile, 'utf8')).toMatch(
      /Resumed [1-9]\d* executions? left running/,
    );
    process.stdout.write(
      `crash mid-run: ${atKill.length} unfinished runs at the kill (last stage committed: ${stagesAtKill.join(', ')}); all succeeded ${resumedInMs} ms after the restart began\n`,
    );
  });

  it('resumes runs whose Load transaction the kill cut short, loading each record once', {
    timeout: 300_000,
  }, async () => {
    // Prepare: Load's inserts wait on a lock the test holds, inside Load's open transaction.
    const { dataDir, env, database } = await world('etl_crash_load');
    const first = await startStack({ dataDir, env });
    stacks.push(first);
    const tree = processTree(first.child.pid ?? 0);
    const blocker = new pg.Client({ connectionString: env.DATABASE_URL });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE patients IN SHARE ROW EXCLUSIVE MODE');
    const runIds = await Promise.all(
      Array.from({ length: BATCHES }, (_, batch) => post(first, batch)),
    );
    const waitingLoads = await until(
      'a Load transaction waiting on patients',
      120_000,
      async () => {
        const { rows } = await blocker.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
         WHERE c.relname = 'patients' AND NOT l.granted`,
        );
        return (rows[0]?.n ?? 0) >= 1 ? rows[0]?.n : undefined;
      },
    );

    // Act
    killHard(first);
    await until('the killed stack to be gone', 10_000, async () =>
      stillRunning(tree).length === 0 ? true : undefined,
    );
    // The dead client's transaction can only roll back once the lock lets it go on.
    await blocker.query('COMMIT');
    await blocker.end();
    const loadedBeforeRestart = (
      await database.query<{ n: number }>('SELECT count(*)::int AS n FROM patients')
    ).rows[0]?.n;
    const second = await startStack({ dataDir, env });
    stacks.push(second);
    const resumedInMs = await allSucceeded(database, 180_000);

    // Assess
    expect(waitingLoads).toBeGreaterThanOrEqual(1);
    expect(loadedBeforeRestart).toBe(0);
    await assertLoadedOnce(database, runIds, dataDir);
    process.stdout.write(
      `crash in Load: ${waitingLoads} Load transaction(s) open at the kill; all succeeded ${resumedInMs} ms after the restart began\n`,
    );
  });
});
