import { config } from '../lib/config.ts';
import { migrate } from '../lib/db/migrate.ts';

/** `npm run migrate`: applies pending migrations to the database in DATABASE_URL. */
try {
  const applied = await migrate(config().databaseUrl);
  console.log(applied.length === 0 ? 'Schema is up to date.' : `Applied: ${applied.join(', ')}`);
} catch (error) {
  console.error(`Migration failed: ${error instanceof Error ? error.message : 'unknown error'}`);
  process.exitCode = 1;
}
