/**
 * The benchmark's database: a fresh, migrated database on the server DATABASE_URL names, or
 * on an embedded PostgreSQL started for the run (durable settings, as `npm start` has, and
 * pg_stat_statements loaded).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrate } from '../lib/db/migrate.ts';
import { createPool, type Pool } from '../lib/db/pool.ts';
import { randomPassword, startEmbeddedPostgres } from '../local/embeddedPostgres.ts';

export interface BenchServer {
  /** Where the databases are: `embedded` or the host DATABASE_URL names (no credentials). */
  readonly where: string;
  readonly version: string;
  /** A fresh, migrated database, dropped by its `drop`. */
  database(poolMax: number): Promise<BenchDatabase>;
  stop(): Promise<void>;
}

export interface BenchDatabase {
  readonly url: string;
  readonly pool: Pool;
  /** The database's statements as pg_stat_statements counts them; null when the server lacks it. */
  readonly statements: StatementCounter | null;
  drop(): Promise<void>;
}

/** One statement as pg_stat_statements counted it. */
export interface StatementCount {
  readonly query: string;
  readonly calls: number;
  readonly totalMs: number;
  readonly rows: number;
  /** Sent by a client, not run from inside a function or trigger (whose time is in its caller's). */
  readonly toplevel: boolean;
}

export interface StatementCounter {
  /** Forgets what this database's statements were counted so far. */
  reset(): Promise<void>;
  /** This database's statements counted since the last reset. */
  read(): Promise<StatementCount[]>;
}

/** The embedded server's settings: pg_stat_statements, counting statements run by triggers too. */
const EMBEDDED_SETTINGS = {
  shared_preload_libraries: 'pg_stat_statements',
  'pg_stat_statements.track': 'all',
};

/** pg_stat_statements in `pool`'s database, or null when the server does not load it. */
async function statementCounter(pool: Pool): Promise<StatementCounter | null> {
  try {
    await pool.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    // The view fails to read unless the library is in shared_preload_libraries.
    await pool.query('SELECT 1 FROM pg_stat_statements LIMIT 1');
  } catch {
    return null;
  }
  const thisDatabase = '(SELECT oid FROM pg_database WHERE datname = current_database())';
  return {
    reset: async () => {
      await pool.query(`SELECT pg_stat_statements_reset(0, ${thisDatabase}, 0)`);
    },
    read: async () => {
      const { rows } = await pool.query<{
        query: string;
        calls: string;
        ms: number;
        rows: string;
        toplevel: boolean;
      }>(
        `SELECT query, calls, total_exec_time AS ms, rows, toplevel FROM pg_stat_statements
         WHERE dbid = ${thisDatabase}`,
      );
      return rows.map((row) => ({
        query: row.query,
        calls: Number(row.calls),
        totalMs: row.ms,
        rows: Number(row.rows),
        toplevel: row.toplevel,
      }));
    },
  };
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The server `databaseUrl` names (its database is only used to create others), else embedded. */
export async function startBenchServer(
  databaseUrl: string | undefined = process.env['DATABASE_URL'],
): Promise<BenchServer> {
  const external = databaseUrl?.trim();
  let adminUrl: string;
  let where: string;
  let stopServer: () => Promise<void> = async () => undefined;
  if (external !== undefined && external !== '') {
    adminUrl = external;
    where = new URL(external).host;
  } else {
    // Under the system temp directory, which the `postgres` user can traverse when run as root.
    const dataDir = mkdtempSync(join(tmpdir(), 'healthcare-etl-bench-'));
    chmodSync(dataDir, 0o755);
    const server = await startEmbeddedPostgres({
      dataDir: join(dataDir, 'cluster'),
      persistent: false,
      password: randomPassword(),
      settings: EMBEDDED_SETTINGS,
    });
    adminUrl = server.url;
    where = 'embedded';
    stopServer = async () => {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    };
  }
  const version = await withClient(adminUrl, async (client) => {
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return rows[0]?.server_version ?? 'unknown';
  });
  return {
    where,
    version,
    stop: stopServer,
    database: async (poolMax) => {
      const name = `bench_${randomBytes(6).toString('hex')}`;
      await withClient(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      await migrate(url.toString());
      const pool = createPool({
        databaseUrl: url.toString(),
        database: { poolMax, statementTimeoutMs: 600_000, ssl: false },
      });
      return {
        url: url.toString(),
        pool,
        statements: await statementCounter(pool),
        drop: async () => {
          await pool.end();
          await withClient(adminUrl, (client) =>
            client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
          );
        },
      };
    },
  };
}
