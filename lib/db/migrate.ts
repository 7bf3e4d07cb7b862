import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { watchConnection } from './pool.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations', import.meta.url));

/**
 * Applies every pending migration in one transaction. node-pg-migrate holds an
 * advisory lock, so concurrent starters wait for each other instead of racing.
 */
export async function migrate(databaseUrl: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  // A connection dropped mid-migration then rejects the runner's query instead of crashing.
  watchConnection(client);
  await client.connect();
  try {
    const applied = await runner({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      direction: 'up',
      migrationsTable: 'pgmigrations',
      count: Number.POSITIVE_INFINITY,
      singleTransaction: true,
      checkOrder: true,
      advisoryLockMode: 'wait',
      log: () => undefined,
    });
    return applied.map((migration) => migration.name);
  } finally {
    // Ending a client whose connection died must not replace the error that says so.
    await client.end().catch(() => undefined);
  }
}
