import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../lib/db/migrate.ts';
import { randomPassword, startEmbeddedPostgres } from '../../local/embeddedPostgres.ts';
import {
  databaseUrlFor,
  dropStaleTestDatabases,
  quoteIdentifier,
  testDatabaseName,
} from './databaseNames.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A superuser connection string to the server the integration tests use. */
    adminDatabaseUrl: string;
    /** A migrated database that each test file clones (CREATE DATABASE ... TEMPLATE). */
    templateDatabase: string;
  }
}

/**
 * Integration tests run against a real PostgreSQL: the server in DATABASE_URL when it
 * is set, otherwise an embedded one started here on a free port in a temporary directory.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env['DATABASE_URL'];
  const embedded =
    external === undefined
      ? await startEmbeddedPostgres({
          dataDir: join(tmpdir(), `etl-test-pg-${process.pid}-${Date.now().toString(36)}`),
          persistent: false,
          password: randomPassword(),
          durable: false,
        })
      : undefined;
  const adminUrl = external ?? (embedded?.url as string);

  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const template = testDatabaseName('template');
  try {
    if (external !== undefined) await dropStaleTestDatabases(admin);
    await admin.query(`CREATE DATABASE ${quoteIdentifier(template)}`);
  } finally {
    await admin.end();
  }
  await migrate(databaseUrlFor(adminUrl, template));

  project.provide('adminDatabaseUrl', adminUrl);
  project.provide('templateDatabase', template);

  return async () => {
    const cleanup = new pg.Client({ connectionString: adminUrl });
    await cleanup.connect();
    try {
      await cleanup.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(template)} WITH (FORCE)`);
    } finally {
      await cleanup.end();
    }
    await embedded?.stop();
  };
}
