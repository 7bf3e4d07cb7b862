import { randomBytes } from 'node:crypto';
import type pg from 'pg';

const PREFIX = 'etl_test_';
const STALE_AFTER_MS = 6 * 60 * 60 * 1000;

/** Names carry their creation time, so a crashed run's databases can be recognised and dropped. */
export function testDatabaseName(kind: string): string {
  return `${PREFIX}${Date.now().toString(36)}_${kind}_${randomBytes(4).toString('hex')}`;
}

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function databaseUrlFor(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function dropStaleTestDatabases(admin: pg.Client): Promise<void> {
  const { rows } = await admin.query<{ datname: string }>(
    'SELECT datname FROM pg_database WHERE datname LIKE $1',
    [`${PREFIX}%`],
  );
  for (const { datname } of rows) {
    const createdAt = Number.parseInt(datname.slice(PREFIX.length).split('_')[0] ?? '', 36);
    if (Number.isFinite(createdAt) && Date.now() - createdAt > STALE_AFTER_MS) {
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(datname)} WITH (FORCE)`);
    }
  }
}
