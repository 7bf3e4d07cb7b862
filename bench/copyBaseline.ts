/**
 * The baselines the pipeline is judged against: PostgreSQL's own `COPY ... FROM STDIN` of
 * exactly the rows the pipeline stored (same tables, same columns, same bytes, in binary
 * format), on as many connections as the pipeline had. Into fresh copies of the tables with
 * their indexes (the physical limit), and into the real, constrained tables of a freshly
 * migrated database (the limit the schema's foreign keys and triggers set).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type { Pool } from '../lib/db/pool.ts';
import type { StatementCounter } from './database.ts';
import { type CpuFigures, startCpuCount } from './processCpu.ts';
import { type StatementSummary, summariseStatements } from './report.ts';

/**
 * Every table a run leaves rows in (stage payloads are purged when the run ends), those of them
 * that exist: `observations` gives way to `fhir_resources`, `resource_references` and
 * `withheld_patient_references` when every FHIR resource type is stored, and the benchmark runs
 * on either schema.
 */
export const STORED_TABLES = [
  'data_keys',
  'ingest_runs',
  'patients',
  'consents',
  'consent_history',
  'pending_consents',
  'observations',
  'fhir_resources',
  'resource_references',
  'patient_references',
  'withheld_patient_references',
  'rejections',
  'audit_log',
  'audit_seals',
  'pipeline_events',
] as const;
export type StoredTable = (typeof STORED_TABLES)[number];

/** Tables a run writes to that no baseline copies: bookkeeping, refilled by every migration. */
const NOT_COPIED = new Set(['pgmigrations', 'audit_chain_head']);

/** The stored tables the schema of `db` has. */
export async function storedTables(db: Pool): Promise<StoredTable[]> {
  const { rows } = await db.query<{ table: StoredTable }>(
    `SELECT name AS table FROM unnest($1::text[]) WITH ORDINALITY AS t(name, position)
     WHERE to_regclass('public.' || name) IS NOT NULL ORDER BY position`,
    [STORED_TABLES],
  );
  return rows.map(({ table }) => table);
}

/**
 * Tables of `db` holding rows that neither baseline copies, with their row counts: empty unless a
 * migration added a table the pipeline writes and STORED_TABLES does not name it yet.
 */
export async function uncopiedTables(db: Pool): Promise<Record<string, number>> {
  const { rows: tables } = await db.query<{ name: string }>(
    `SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`,
  );
  const copied = new Set<string>(STORED_TABLES);
  const uncopied: Record<string, number> = {};
  for (const { name } of tables) {
    if (copied.has(name) || NOT_COPIED.has(name)) continue;
    const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM public.${name}`);
    const count = Number(rows[0]?.n);
    if (count > 0) uncopied[name] = count;
  }
  return uncopied;
}

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
  /** CPU spent while the copies ran. */
  readonly cpuMs: CpuFigures;
  readonly tables: readonly TableFigures[];
}

export interface ConstrainedCopyFigures extends CopyFigures {
  /** Its statements, the triggers' included (null without pg_stat_statements). */
  readonly statements: StatementSummary | null;
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

/** One stored table's rows, exported in COPY's binary format. */
export interface ExportedTable {
  readonly table: StoredTable;
  readonly columns: string;
  readonly chunks: readonly Buffer[];
  readonly size: number;
}

/** Exports every stored table of `db` (not timed), for the baselines to copy. */
export async function exportStored(db: Pool): Promise<ExportedTable[]> {
  const exported: ExportedTable[] = [];
  const client = await db.connect();
  try {
    for (const table of await storedTables(db)) {
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
  return exported;
}

/** One table's rows in one committed COPY. */
async function copyTable(client: pg.PoolClient, schema: string, table: ExportedTable) {
  await client.query('BEGIN');
  const sink = client.query(
    copyFrom(`COPY ${schema}.${table.table} (${table.columns}) FROM STDIN (FORMAT binary)`),
  );
  await pipeline(Readable.from(table.chunks), sink);
  await client.query('COMMIT');
}

/**
 * Copies the tables on `connections` connections, largest first, each as soon as every table
 * it references (`references`, by name; tables not copied do not count) has committed.
 */
async function copyTables(
  db: Pool,
  schema: string,
  tables: readonly ExportedTable[],
  connections: number,
  references: ReadonlyMap<string, ReadonlySet<string>> = new Map(),
): Promise<void> {
  const waiting = tables.toSorted((a, b) => b.size - a.size);
  const copied = new Set<string>(tables.map(({ table }) => table));
  const committed = new Set<string>();
  let failed = false;
  let wake = () => {};
  let changed = new Promise<void>((resolve) => {
    wake = resolve;
  });
  const announce = () => {
    wake();
    changed = new Promise<void>((resolve) => {
      wake = resolve;
    });
  };
  const isReady = ({ table }: ExportedTable) =>
    [...(references.get(table) ?? [])].every(
      (referenced) => referenced === table || !copied.has(referenced) || committed.has(referenced),
    );
  await Promise.all(
    Array.from({ length: Math.max(1, connections) }, async () => {
      const worker = await db.connect();
      try {
        while (waiting.length > 0 && !failed) {
          const index = waiting.findIndex(isReady);
          if (index === -1) {
            await changed;
            continue;
          }
          const [next] = waiting.splice(index, 1);
          if (next === undefined) continue;
          await copyTable(worker, schema, next);
          committed.add(next.table);
          announce();
        }
      } catch (error) {
        // The other connections stop waiting for a table that will never commit.
        failed = true;
        announce();
        throw error;
      } finally {
        worker.release();
      }
    }),
  );
}

/** The foreign keys among `tables` in `schema`: each table and the tables it references. */
async function foreignKeys(
  db: Pool,
  schema: string,
  tables: readonly string[],
): Promise<Map<string, Set<string>>> {
  const { rows } = await db.query<{ referencing: string; referenced: string }>(
    `SELECT referencing.relname AS referencing, referenced.relname AS referenced
     FROM pg_constraint c
     JOIN pg_class referencing ON referencing.oid = c.conrelid
     JOIN pg_class referenced ON referenced.oid = c.confrelid
     JOIN pg_namespace n ON n.oid = referencing.relnamespace
     WHERE c.contype = 'f' AND n.nspname = $1 AND referencing.relname = ANY($2::text[])`,
    [schema, tables],
  );
  const references = new Map<string, Set<string>>();
  for (const { referencing, referenced } of rows) {
    references.set(referencing, (references.get(referencing) ?? new Set()).add(referenced));
  }
  return references;
}

/**
 * The physical limit: the exported rows copied into fresh copies of the tables in `db`
 * (`LIKE ... INCLUDING ALL`: the same columns, defaults, checks and indexes, but no foreign
 * keys and no triggers), largest first.
 */
export async function copyBaseline(
  db: Pool,
  exported: readonly ExportedTable[],
  connections: number,
): Promise<CopyFigures> {
  await db.query(`DROP SCHEMA IF EXISTS ${COPY_SCHEMA} CASCADE`);
  await db.query(`CREATE SCHEMA ${COPY_SCHEMA}`);
  for (const { table } of exported) {
    await db.query(`CREATE TABLE ${COPY_SCHEMA}.${table} (LIKE public.${table} INCLUDING ALL)`);
  }
  const walFrom = await walPosition(db);
  const cpuSpent = await startCpuCount(db);
  const started = performance.now();
  await copyTables(db, COPY_SCHEMA, exported, connections);
  const ms = performance.now() - started;
  const cpuMs = cpuSpent();
  const walBytes = await walBytesSince(db, walFrom);
  const tables = await tableFigures(
    db,
    COPY_SCHEMA,
    exported.map(({ table }) => table),
  );
  await db.query(`DROP SCHEMA ${COPY_SCHEMA} CASCADE`);
  return { ms, rows: tables.reduce((sum, t) => sum + t.rows, 0), walBytes, cpuMs, tables };
}

/**
 * The limit the schema itself sets: the exported rows copied into the real tables of a
 * freshly migrated database `target`, every foreign key checked and every trigger fired (the
 * audit chain hashes each row again, consents write their history). It is what any writer of
 * these rows pays, before a pipeline does anything of its own. Each table is copied as soon as
 * the tables its foreign keys reference have committed (read from the catalog).
 */
export async function constrainedCopyBaseline(
  target: Pool,
  exported: readonly ExportedTable[],
  connections: number,
  statements: StatementCounter | null,
): Promise<ConstrainedCopyFigures> {
  // consent_history is not copied: the consents trigger writes it, as it did for the pipeline.
  const tables = exported.filter(({ table }) => table !== 'consent_history');
  const references = await foreignKeys(
    target,
    'public',
    tables.map(({ table }) => table),
  );
  await statements?.reset();
  const walFrom = await walPosition(target);
  const cpuSpent = await startCpuCount(target);
  const started = performance.now();
  await copyTables(target, 'public', tables, connections, references);
  const ms = performance.now() - started;
  const cpuMs = cpuSpent();
  const counted = statements === null ? null : summariseStatements(await statements.read());
  const walBytes = await walBytesSince(target, walFrom);
  const stored = await tableFigures(
    target,
    'public',
    exported.map(({ table }) => table),
  );
  return {
    ms,
    rows: stored.reduce((sum, t) => sum + t.rows, 0),
    walBytes,
    cpuMs,
    tables: stored,
    statements: counted,
  };
}
