import pg from 'pg';

/**
 * Where the local Step Functions endpoint keeps its executions and their history: PostgreSQL
 * (the embedded stack's own database, schema local_stepfunctions), so that executions outlive
 * the process that ran them, as they do in Step Functions. Local only: the schema is made
 * here, not by lib/db/migrations, because no deployed database ever holds it.
 */

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';

export interface StoredExecution {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly input: string;
  readonly status: ExecutionStatus;
  readonly startDate: number;
  readonly stopDate: number | undefined;
  readonly output: string | undefined;
  readonly error: string | undefined;
  readonly cause: string | undefined;
  /** How many times the execution was resumed after the process running it stopped. */
  readonly resumes: number;
}

export interface ExecutionEnd {
  readonly status: Exclude<ExecutionStatus, 'RUNNING'>;
  readonly stopDate: number;
  readonly output: string | undefined;
  readonly error: string | undefined;
  readonly cause: string | undefined;
}

const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS local_stepfunctions;
CREATE TABLE IF NOT EXISTS local_stepfunctions.executions (
  execution_arn text PRIMARY KEY,
  state_machine_arn text NOT NULL,
  name text NOT NULL,
  input text NOT NULL,
  status text NOT NULL CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED', 'ABORTED', 'TIMED_OUT')),
  start_date timestamptz NOT NULL,
  stop_date timestamptz,
  output text,
  error text,
  cause text,
  resumes integer NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS local_stepfunctions.state_machines (
  state_machine_arn text PRIMARY KEY,
  definition text NOT NULL,
  creation_date timestamptz NOT NULL,
  update_date timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_by_machine_and_start
  ON local_stepfunctions.executions (state_machine_arn, start_date DESC);
CREATE TABLE IF NOT EXISTS local_stepfunctions.execution_events (
  execution_arn text NOT NULL REFERENCES local_stepfunctions.executions ON DELETE CASCADE,
  seq integer NOT NULL,
  event jsonb NOT NULL,
  PRIMARY KEY (execution_arn, seq)
);`;

/** Serialises schema creation between processes sharing a database. */
const SCHEMA_LOCK = 7_340_218_113;

interface ExecutionRow {
  execution_arn: string;
  state_machine_arn: string;
  name: string;
  input: string;
  status: ExecutionStatus;
  start_date: Date;
  stop_date: Date | null;
  output: string | null;
  error: string | null;
  cause: string | null;
  resumes: number;
}

const COLUMNS =
  'execution_arn, state_machine_arn, name, input, status, start_date, stop_date, output, error, cause, resumes';

function fromRow(row: ExecutionRow): StoredExecution {
  return {
    executionArn: row.execution_arn,
    stateMachineArn: row.state_machine_arn,
    name: row.name,
    input: row.input,
    status: row.status,
    startDate: row.start_date.getTime(),
    stopDate: row.stop_date?.getTime(),
    output: row.output ?? undefined,
    error: row.error ?? undefined,
    cause: row.cause ?? undefined,
    resumes: row.resumes,
  };
}

/** The advisory-lock namespace of state machines run by a local endpoint. */
const OWNER_LOCK = 734_021_811;

export class ExecutionStore {
  readonly #pool: pg.Pool;
  readonly #databaseUrl: string;
  #owner: pg.Client | undefined;
  #closed = false;

  private constructor(pool: pg.Pool, databaseUrl: string) {
    this.#pool = pool;
    this.#databaseUrl = databaseUrl;
  }

  /**
   * Makes this process the one that runs `stateMachineArn`'s executions on this database (a
   * session lock, held as long as the store is open): two would resume each other's. False
   * when another process holds it. Lost with its connection, the lock is taken again.
   */
  async claim(stateMachineArn: string): Promise<boolean> {
    const owner = new pg.Client({ connectionString: this.#databaseUrl });
    owner.on('error', () => undefined);
    await owner.connect();
    const { rows } = await owner.query<{ claimed: boolean }>(
      'SELECT pg_try_advisory_lock($1::integer, hashtext($2)) AS claimed',
      [OWNER_LOCK, stateMachineArn],
    );
    if (rows[0]?.claimed !== true) {
      await owner.end();
      return false;
    }
    this.#owner = owner;
    owner.once('end', () => void this.#reclaim(stateMachineArn));
    return true;
  }

  async #reclaim(stateMachineArn: string): Promise<void> {
    for (let delay = 100; !this.#closed; delay = Math.min(delay * 2, 2_000)) {
      try {
        if (await this.claim(stateMachineArn)) return;
      } catch {
        // The database is unreachable for now; the lock is free as long as no one holds it.
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  /** Connects to `databaseUrl` and creates the schema when it is missing. */
  static async open(databaseUrl: string): Promise<ExecutionStore> {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 3 });
    // A connection the server dropped must not end the process, idle or checked out (a client
    // has no pool listener then); the query under way fails, and the next one reconnects.
    pool.on('error', () => undefined);
    pool.on('connect', (client) => client.on('error', () => undefined));
    try {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
        await client.query(SCHEMA);
        // Step Functions keeps a Standard workflow's ended executions for 90 days; so does this.
        await client.query(
          `DELETE FROM local_stepfunctions.executions WHERE stop_date < now() - interval '90 days'`,
        );
        await client.query('COMMIT');
        client.release();
      } catch (error) {
        client.release(true);
        throw error;
      }
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
    return new ExecutionStore(pool, databaseUrl);
  }

  /**
   * Records the state machine as this start runs it: created the first time, updated when its
   * definition changed since. Its dates, as DescribeStateMachine tells them.
   */
  async registerStateMachine(
    stateMachineArn: string,
    definition: string,
  ): Promise<{ creationDate: number; updateDate: number }> {
    await this.#pool.query(
      `INSERT INTO local_stepfunctions.state_machines AS machine
         (state_machine_arn, definition, creation_date, update_date)
       VALUES ($1, $2, now(), now())
       ON CONFLICT (state_machine_arn) DO UPDATE SET definition = $2, update_date = now()
       WHERE machine.definition <> $2`,
      [stateMachineArn, definition],
    );
    const { rows } = await this.#pool.query<{ creation_date: Date; update_date: Date }>(
      `SELECT creation_date, update_date FROM local_stepfunctions.state_machines
       WHERE state_machine_arn = $1`,
      [stateMachineArn],
    );
    const row = rows[0];
    if (row === undefined) throw new Error('the state machine was not recorded');
    return { creationDate: row.creation_date.getTime(), updateDate: row.update_date.getTime() };
  }

  /** Records a new execution; false when one of that ARN already exists. */
  async insert(execution: StoredExecution): Promise<boolean> {
    const { rowCount } = await this.#pool.query(
      `INSERT INTO local_stepfunctions.executions (execution_arn, state_machine_arn, name, input, status, start_date)
       VALUES ($1, $2, $3, $4, 'RUNNING', $5) ON CONFLICT (execution_arn) DO NOTHING`,
      [
        execution.executionArn,
        execution.stateMachineArn,
        execution.name,
        execution.input,
        new Date(execution.startDate),
      ],
    );
    return rowCount === 1;
  }

  async find(executionArn: string): Promise<StoredExecution | undefined> {
    const { rows } = await this.#pool.query<ExecutionRow>(
      `SELECT ${COLUMNS} FROM local_stepfunctions.executions WHERE execution_arn = $1`,
      [executionArn],
    );
    return rows[0] === undefined ? undefined : fromRow(rows[0]);
  }

  /** The state machine's executions, newest first, `status` only when given. */
  async list(
    stateMachineArn: string,
    page: { status: string | undefined; offset: number; limit: number },
  ): Promise<StoredExecution[]> {
    const { rows } = await this.#pool.query<ExecutionRow>(
      `SELECT ${COLUMNS} FROM local_stepfunctions.executions
       WHERE state_machine_arn = $1 AND ($2::text IS NULL OR status = $2)
       ORDER BY start_date DESC, execution_arn OFFSET $3 LIMIT $4`,
      [stateMachineArn, page.status ?? null, page.offset, page.limit],
    );
    return rows.map(fromRow);
  }

  /** Executions that were running when the process running them stopped. */
  async running(stateMachineArn: string): Promise<StoredExecution[]> {
    const { rows } = await this.#pool.query<ExecutionRow>(
      `SELECT ${COLUMNS} FROM local_stepfunctions.executions
       WHERE state_machine_arn = $1 AND status = 'RUNNING' ORDER BY start_date`,
      [stateMachineArn],
    );
    return rows.map(fromRow);
  }

  async events(executionArn: string): Promise<unknown[]> {
    const { rows } = await this.#pool.query<{ event: unknown }>(
      'SELECT event FROM local_stepfunctions.execution_events WHERE execution_arn = $1 ORDER BY seq',
      [executionArn],
    );
    return rows.map((row) => row.event);
  }

  /** Appends events numbered from `firstSeq`; a retry of the same events writes nothing twice. */
  async appendEvents(executionArn: string, firstSeq: number, events: readonly unknown[]) {
    if (events.length === 0) return;
    await this.#pool.query(
      `INSERT INTO local_stepfunctions.execution_events (execution_arn, seq, event)
       SELECT $1, $2 + ordinality::integer - 1, event
       FROM unnest($3::jsonb[]) WITH ORDINALITY AS e(event, ordinality)
       ON CONFLICT (execution_arn, seq) DO NOTHING`,
      [executionArn, firstSeq, events.map((event) => JSON.stringify(event))],
    );
  }

  async markResumed(executionArn: string): Promise<number> {
    const { rows } = await this.#pool.query<{ resumes: number }>(
      `UPDATE local_stepfunctions.executions SET resumes = resumes + 1
       WHERE execution_arn = $1 RETURNING resumes`,
      [executionArn],
    );
    return rows[0]?.resumes ?? 0;
  }

  async end(executionArn: string, end: ExecutionEnd): Promise<void> {
    await this.#pool.query(
      `UPDATE local_stepfunctions.executions
       SET status = $2, stop_date = $3, output = $4, error = $5, cause = $6
       WHERE execution_arn = $1`,
      [
        executionArn,
        end.status,
        new Date(end.stopDate),
        end.output ?? null,
        end.error ?? null,
        end.cause ?? null,
      ],
    );
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#owner?.end().catch(() => undefined);
    await this.#pool.end();
  }
}
