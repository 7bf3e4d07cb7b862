import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { deserialize } from 'node:v8';
import type { Queryable } from '../../lib/db/pool.ts';
import {
  decompressPayload,
  V8_VERSION_TAG,
  ZSTD_MAGIC,
} from '../../lib/pipeline/payloadCompression.ts';
import { quoteIdentifier } from './databaseNames.ts';

/** One stored value: a bytea column's bytes, or any other column in PostgreSQL's text form. */
export interface Cell {
  readonly table: string;
  readonly column: string;
  readonly value: Buffer | string;
}

export interface DatabaseSweep {
  /** Every table of the public schema, each read in full. */
  readonly tables: readonly string[];
  readonly cells: readonly Cell[];
}

/** Reads every column of every row of every table in the public schema. */
export async function sweepDatabase(db: Queryable): Promise<DatabaseSweep> {
  const { rows: tables } = await db.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'
     ORDER BY table_name`,
  );
  const cells: Cell[] = [];
  for (const { table_name: table } of tables) {
    const { rows: columns } = await db.query<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM information_schema.columns
       WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`,
      [table],
    );
    // bytea as the driver's Buffer; everything else cast by PostgreSQL, not re-serialised here.
    const list = columns
      .map(({ column_name: column, data_type: type }) =>
        type === 'bytea'
          ? quoteIdentifier(column)
          : `${quoteIdentifier(column)}::text AS ${quoteIdentifier(column)}`,
      )
      .join(', ');
    const { rows } = await db.query<Record<string, Buffer | string | null>>(
      `SELECT ${list} FROM public.${quoteIdentifier(table)}`,
    );
    for (const row of rows) {
      for (const { column_name: column } of columns) {
        const value = row[column];
        if (value !== null && value !== undefined) cells.push({ table, column, value });
      }
    }
  }
  return { tables: tables.map((row) => row.table_name), cells };
}

/**
 * Reads every file under `root` (the payload directory), each as a cell of `table` named by its
 * path under the root; none when the directory does not exist.
 */
export async function sweepDirectory(root: string, table = 'payload files'): Promise<Cell[]> {
  let entries: string[];
  try {
    entries = await readdir(root, { recursive: true });
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return [];
    throw error;
  }
  const cells: Cell[] = [];
  for (const entry of entries.sort()) {
    const path = join(root, entry);
    let value: Buffer;
    try {
      value = await readFile(path);
    } catch (error) {
      // A directory: its files are entries of their own.
      if ((error as { code?: unknown }).code === 'EISDIR') continue;
      throw error;
    }
    cells.push({ table, column: relative(root, path), value });
  }
  return cells;
}

/**
 * The readings of a cell a leak could hide in: its bytes, and, when they look like zstd,
 * their decompression (claim-check payloads are compressed before they are encrypted, so
 * an unencrypted payload would not show its plaintext in the raw bytes). A decompressed payload
 * in V8's format is also read as the UTF-8 of every string it holds: V8 writes strings as
 * Latin-1 or UTF-16, so a search of its raw bytes for UTF-8 would miss any beyond ASCII.
 */
function readings(value: Buffer | string): Buffer[] {
  const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8');
  if (!bytes.subarray(0, 4).equals(ZSTD_MAGIC)) return [bytes];
  let decompressed: Buffer;
  try {
    decompressed = decompressPayload(bytes);
  } catch {
    return [bytes];
  }
  return [bytes, decompressed, ...stringsOfV8Value(decompressed)];
}

/** Every string (keys included) of a V8-serialized value, as UTF-8, NUL between them. */
function stringsOfV8Value(bytes: Buffer): Buffer[] {
  if (bytes[0] !== V8_VERSION_TAG) return [];
  let value: unknown;
  try {
    value = deserialize(bytes);
  } catch {
    return [];
  }
  const strings: string[] = [];
  const visit = (node: unknown): void => {
    if (typeof node === 'string') strings.push(node);
    else if (Array.isArray(node) || node instanceof Set) for (const item of node) visit(item);
    else if (node instanceof Map) for (const entry of node) visit(entry);
    else if (node !== null && typeof node === 'object' && !ArrayBuffer.isView(node)) {
      for (const [key, item] of Object.entries(node)) {
        strings.push(key);
        visit(item);
      }
    }
  };
  visit(value);
  return [Buffer.from(strings.join('\0'), 'utf8')];
}

/** `needle in table.column` for every cell holding one of the needles. */
export function occurrences(cells: readonly Cell[], needles: readonly string[]): string[] {
  return cells.flatMap((cell) => {
    const views = readings(cell.value);
    return needles
      .filter((needle) => views.some((view) => view.includes(Buffer.from(needle, 'utf8'))))
      .map((needle) => `${needle} in ${cell.table}.${cell.column}`);
  });
}
