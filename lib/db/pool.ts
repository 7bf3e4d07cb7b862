import pg from 'pg';
import type { Config } from '../config.ts';
import { AppError, TransientDatabaseError } from '../errors.ts';
import { toAppError } from './errors.ts';

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

export interface ConnectionWatch {
  /** The error that ended the connection, if it has ended. */
  readonly lost: () => unknown;
  readonly unwatch: () => void;
}

/**
 * Watches a client for the death of its connection. pg emits 'error' on a client whose
 * server went away, and pg-pool listens only while the client is idle: checked out, an
 * unheard 'error' would be an uncaught exception that ends the process.
 */
export function watchConnection(client: pg.ClientBase): ConnectionWatch {
  let lost: unknown;
  const onError = (error: unknown) => {
    lost ??= error;
  };
  client.on('error', onError);
  return { lost: () => lost, unwatch: () => client.removeListener('error', onError) };
}

/**
 * Checks a client out, watched from the moment pg-pool hands it over. Its callback runs inside
 * pg-pool's release of the client's previous user, possibly mid-read of the socket, and a death
 * in that same read would beat the continuation of a promise-returning connect().
 */
function checkOut(pool: pg.Pool): Promise<{ client: pg.PoolClient; connection: ConnectionWatch }> {
  return new Promise((resolve, reject) => {
    pool.connect((error, client) => {
      if (error !== undefined || client === undefined) {
        reject(toAppError(error));
        return;
      }
      resolve({ client, connection: watchConnection(client) });
    });
  });
}

/** Whether ROLLBACK went through: when it did not, the connection is unusable. */
async function rolledBack(client: pg.PoolClient): Promise<boolean> {
  try {
    await client.query('ROLLBACK');
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `work` in one transaction: committed when it resolves, rolled back when it throws.
 * A connection lost on the way rejects with a TransientDatabaseError (whether a lost COMMIT
 * took effect is unknown, so callers retry idempotently), and the client is discarded.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const { client, connection } = await checkOut(pool);
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    if (connection.lost() !== undefined || !(await rolledBack(client))) {
      // Whatever the driver threw, the lost connection is why; an AppError of the work's own stands.
      broken =
        error instanceof AppError
          ? error
          : new TransientDatabaseError('database connection lost', { cause: error });
      throw broken;
    }
    throw error;
  } finally {
    connection.unwatch();
    client.release(broken);
  }
}
