import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, inject } from 'vitest';
import { createPool } from '../../lib/db/pool.ts';
import { databaseUrlFor, quoteIdentifier, testDatabaseName } from './databaseNames.ts';

export interface TestDatabase {
  readonly url: string;
  readonly pool: pg.Pool;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject('adminDatabaseUrl') });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A fresh, migrated database of its own for one test file, cloned from the template. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = testDatabaseName('file');
  await admin((client) =>
    client.query(
      `CREATE DATABASE ${quoteIdentifier(name)} TEMPLATE ${quoteIdentifier(inject('templateDatabase'))}`,
    ),
  );
  const url = databaseUrlFor(inject('adminDatabaseUrl'), name);
  const pool = createPool({
    databaseUrl: url,
    database: { poolMax: 5, statementTimeoutMs: 30_000, ssl: false },
  });
  return {
    url,
    pool,
    drop: async () => {
      await pool.end();
      await admin((client) =>
        client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)} WITH (FORCE)`),
      );
    },
  };
}

export interface UseTestDatabaseOptions {
  /** A fresh database for each test, for tests that count or break what the database holds. */
  readonly perTest?: boolean;
}

/**
 * Registers the hooks that create a test database before the enclosing describe (or each
 * test) and drop it after. The object returned reads through to the current database.
 */
export function useTestDatabase(options: UseTestDatabaseOptions = {}): TestDatabase {
  let current: TestDatabase | undefined;
  const created = (): TestDatabase => {
    if (current === undefined) throw new Error('the test database is used outside its hooks');
    return current;
  };
  (options.perTest === true ? beforeEach : beforeAll)(async () => {
    current = await createTestDatabase();
  });
  (options.perTest === true ? afterEach : afterAll)(async () => {
    await current?.drop();
    current = undefined;
  });
  return {
    get url() {
      return created().url;
    },
    get pool() {
      return created().pool;
    },
    drop: () => created().drop(),
  };
}
