import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type TransactionClient, withTransaction } from '../../../lib/db/pool.ts';
import { TransientDatabaseError } from '../../../lib/errors.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.ts';
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
    async (client, terminate) => {
      const sleeping = client.query('SELECT pg_sleep(30)');
      await terminate();
      return sleeping;
    },
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
  let database: TestDatabase;
  let admin: pg.Client;
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);

  beforeAll(async () => {
    database = await createTestDatabase();
    admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    await admin.query('CREATE TABLE pool_probe (label text NOT NULL)');
  });

  afterAll(async () => {
    await admin.end();
    await database.drop();
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
