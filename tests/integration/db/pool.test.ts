import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPool, type TransactionClient, withTransaction } from '../../../lib/db/pool.ts';
import { TransientDatabaseError } from '../../../lib/errors.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { thrownBy } from '../../helpers/thrown.ts';

async function backendPid(client: TransactionClient): Promise<number> {
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const [row] = rows;
  if (row === undefined) throw new Error('no backend pid');
  return row.pid;
}

/** How the connection dies: mid-query, or while the work is busy with something else. */
const KILLS: ReadonlyArray<
  [string, (client: TransactionClient, terminate: () => Promise<void>) => Promise<unknown>]
> = [
  [
    'during a query',
    (client, terminate) => Promise.all([client.query('SELECT pg_sleep(30)'), terminate()]),
  ],
  [
    'between queries',
    async (client, terminate) => {
      await terminate();
      // pg hears of the death while no query is running: only the client's 'error' says so.
      await delay(300);
      return client.query('SELECT 1');
    },
  ],
];

describe('withTransaction when the database terminates its backend', () => {
  const database = useTestDatabase();
  let admin: pg.Client;
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    await admin.query('CREATE TABLE pool_probe (label text NOT NULL)');
  });

  afterAll(async () => {
    await admin.end();
  });

  beforeEach(() => {
    uncaught.length = 0;
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUncaught);
  });

  afterEach(() => {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
  });

  it.each(KILLS)(
    'rejects with a TransientDatabaseError %s, raises nothing uncaught, and the pool goes on',
    async (when, kill) => {
      // Prepare
      const { pool } = database;
      let killedPid: number | undefined;
      const terminate = async () => {
        await admin.query('SELECT pg_terminate_backend($1)', [killedPid]);
      };

      // Act
      const error = await thrownBy(() =>
        withTransaction(pool, async (client) => {
          killedPid = await backendPid(client);
          await client.query('INSERT INTO pool_probe (label) VALUES ($1)', [when]);
          return kill(client, terminate);
        }),
      );
      // Late 'error' and 'end' events of the dead connection arrive on later turns.
      await delay(200);

      // Assess
      expect(uncaught).toStrictEqual([]);
      expect(error).toBeInstanceOf(TransientDatabaseError);
      expect((error as TransientDatabaseError).retryable).toBe(true);
      const afterwards = await Promise.all(
        Array.from({ length: 5 }, () => withTransaction(pool, backendPid)),
      );
      expect(afterwards).not.toContain(killedPid);
      const { rows } = await pool.query('SELECT label FROM pool_probe WHERE label = $1', [when]);
      expect(rows).toStrictEqual([]);
    },
  );

  it('hears of a death that arrives in the same read as the release that handed the client over', async () => {
    // Prepare: one connection, a query on it, and a transaction queued behind it
    const pool = createPool({
      databaseUrl: database.url,
      database: { poolMax: 1, statementTimeoutMs: 30_000, ssl: false },
    });
    const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const querying = pool.query('SELECT pg_sleep(0.2)');
    const queued = thrownBy(() => withTransaction(pool, backendPid));
    await admin.query('SELECT 1');
    const terminating = admin.query('SELECT pg_sleep(0.3), pg_terminate_backend($1)', [
      rows[0]?.pid,
    ]);

    // Act: the event loop is away while the query ends and the backend dies, so one read holds both
    const until = Date.now() + 1_000;
    while (Date.now() < until) {
      // Busy on purpose: nothing may be read from the sockets until both messages wait there.
    }
    await Promise.allSettled([querying, terminating]);
    const error = await queued;
    await delay(200);

    // Assess
    expect(uncaught).toStrictEqual([]);
    expect(error).toBeInstanceOf(TransientDatabaseError);
    await expect(withTransaction(pool, backendPid)).resolves.not.toBe(rows[0]?.pid);
    await pool.end();
  });

  it('commits as before when nothing goes wrong', async () => {
    // Act
    await withTransaction(database.pool, (client) =>
      client.query('INSERT INTO pool_probe (label) VALUES ($1)', ['committed']),
    );

    // Assess
    const { rows } = await database.pool.query('SELECT label FROM pool_probe');
    expect(rows).toStrictEqual([{ label: 'committed' }]);
  });
});
