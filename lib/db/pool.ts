import pg from 'pg';
import type { Config } from '../config.ts';
import { toAppError } from '../errors.ts';

/** Anything that runs a query: the pool, or a client inside a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: readonly unknown[],
  ): Promise<pg.QueryResult<R>>;
}

export type Pool = pg.Pool;
export type TransactionClient = pg.PoolClient;

/** One pool per process, with a statement timeout on every connection. */
export function createPool(config: Pick<Config, 'databaseUrl' | 'database'>): pg.Pool {
  const pool = new pg.Pool({
    connectionString: config.databaseUrl,
    max: config.database.poolMax,
    options: `-c statement_timeout=${config.database.statementTimeoutMs}`,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    ...(config.database.ssl ? { ssl: { rejectUnauthorized: true } } : {}),
  });
  // An idle client losing its server must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  return pool;
}

/** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
export async function withTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw toAppError(error);
  }
  let broken = false;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch {
      // The connection itself is gone: do not hand it back to the pool.
      broken = true;
    }
    throw error;
  } finally {
    client.release(broken);
  }
}
