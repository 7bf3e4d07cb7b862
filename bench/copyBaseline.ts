/**
 * The physical limit the pipeline is judged against: PostgreSQL's own `COPY ... FROM STDIN`
 * of exactly the rows the pipeline stored (same tables, same columns, same bytes, in binary
 * format), into fresh copies of those tables with the same indexes, on as many connections
 * as the pipeline had.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type { Pool } from '../lib/db/pool.ts';

/** Every table a run leaves rows in (stage payloads are purged when the run ends). */
export const STORED_TABLES = [
  'data_keys',
  'ingest_runs',
  'patients',
  'consents',
  'consent_history',
  'observations',
  'patient_references',
  'rejections',
  'audit_log',
  'pipeline_events',
] as const;

const COPY_SCHEMA = 'bench_copy';

export interface TableFigures {
  readonly table: string;
  readonly rows: number;
  /** pg_total_relation_size: heap, TOAST and indexes. */
  readonly bytes: number;
}

export interface CopyFigures {
  readonly ms: number;
  readonly rows: number;
  /** WAL the copies generated. */
  readonly walBytes: number;
  readonly tables: readonly TableFigures[];
}

export async function tableFigures(
  db: Pool,
  schema: string,
  tables: readonly string[],
): Promise<TableFigures[]> {
  const figures: TableFigures[] = [];
  for (const table of tables) {
    const { rows } = await db.query<{ rows: string; bytes: string }>(
      `SELECT (SELECT count(*) FROM ${schema}.${table}) AS rows,
              pg_total_relation_size('${schema}.${table}') AS bytes`,
    );
    figures.push({ table, rows: Number(rows[0]?.rows), bytes: Number(rows[0]?.bytes) });
  }
  return figures;
}

export async function walPosition(db: Pool): Promise<string> {
  const { rows } = await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  return rows[0]?.lsn ?? '0/0';
}

export async function walBytesSince(db: Pool, from: string): Promise<number> {
  const { rows } = await db.query<{ bytes: string }>(
    'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn) AS bytes',
    [from],
  );
  return Number(rows[0]?.bytes);
}

/** The columns COPY can write: generated columns are computed, never copied. */
async function copyableColumns(client: pg.PoolClient, table: string): Promise<string> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT quote_ident(attname) AS name FROM pg_attribute
     WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
     ORDER BY attnum`,
    [`public.${table}`],
  );
  return rows.map((row) => row.name).join(', ');
}

async function exportTable(client: pg.PoolClient, table: string, columns: string) {
  const chunks: Buffer[] = [];
  const stream = client.query(
    copyTo(`COPY (SELECT ${columns} FROM public.${table}) TO STDOUT (FORMAT binary)`),
  );
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return chunks;
}

/**
 * Exports every stored table (not timed), then times the COPY of all of them into fresh
 * copies, spread over `connections` connections, largest first, each committed.
 */
export async function copyBaseline(db: Pool, connections: number): Promise<CopyFigures> {
  await db.query(`DROP SCHEMA IF EXISTS ${COPY_SCHEMA} CASCADE`);
  await db.query(`CREATE SCHEMA ${COPY_SCHEMA}`);
  const exported: { table: string; columns: string; chunks: Buffer[]; size: number }[] = [];
  const client = await db.connect();
  try {
    for (const table of STORED_TABLES) {
      await client.query(
        `CREATE TABLE ${COPY_SCHEMA}.${table} (LIKE public.${table} INCLUDING ALL)`,
      );
      const columns = await copyableColumns(client, table);
      const chunks = await exportTable(client, table, columns);
      exported.push({
        table,
        columns,
        chunks,
        size: chunks.reduce((sum, chunk) => sum + chunk.length, 0),
      });
    }
  } finally {
    client.release();
  }

  const queue = exported.toSorted((a, b) => b.size - a.size);
  const walFrom = await walPosition(db);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.max(1, connections) }, async () => {
      const worker = await db.connect();
      try {
        for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
          await worker.query('BEGIN');
          const sink = worker.query(
            copyFrom(
              `COPY ${COPY_SCHEMA}.${next.table} (${next.columns}) FROM STDIN (FORMAT binary)`,
            ),
          );
          await pipeline(Readable.from(next.chunks), sink);
          await worker.query('COMMIT');
        }
      } finally {
        worker.release();
      }
    }),
  );
  const ms = performance.now() - started;
  const walBytes = await walBytesSince(db, walFrom);
  const tables = await tableFigures(db, COPY_SCHEMA, STORED_TABLES);
  await db.query(`DROP SCHEMA ${COPY_SCHEMA} CASCADE`);
  return { ms, rows: tables.reduce((sum, t) => sum + t.rows, 0), walBytes, tables };
}
