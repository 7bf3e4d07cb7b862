import type { Queryable } from '../pool.ts';

export type DataKeyPurpose = 'run' | 'blind-index';

export interface DataKeyRow {
  readonly id: string;
  readonly purpose: DataKeyPurpose;
  readonly masterKeyId: string;
  readonly encryptedKey: Buffer;
  readonly encryptionContext: Record<string, string>;
}

interface DataKeyRecord {
  id: string;
  purpose: DataKeyPurpose;
  master_key_id: string;
  encrypted_key: Buffer;
  encryption_context: Record<string, string>;
}

const COLUMNS = 'id, purpose, master_key_id, encrypted_key, encryption_context';

function fromRecord(row: DataKeyRecord): DataKeyRow {
  return {
    id: row.id,
    purpose: row.purpose,
    masterKeyId: row.master_key_id,
    encryptedKey: row.encrypted_key,
    encryptionContext: row.encryption_context,
  };
}

export async function insertDataKey(db: Queryable, key: DataKeyRow): Promise<void> {
  await db.query(`INSERT INTO data_keys (${COLUMNS}) VALUES ($1, $2, $3, $4, $5)`, [
    key.id,
    key.purpose,
    key.masterKeyId,
    key.encryptedKey,
    key.encryptionContext,
  ]);
}

/** Inserts the store's blind-index key unless another process got there first; returns the winner. */
export async function insertBlindIndexKeyOnce(db: Queryable, key: DataKeyRow): Promise<DataKeyRow> {
  await db.query(
    `INSERT INTO data_keys (${COLUMNS}) VALUES ($1, 'blind-index', $2, $3, $4)
     ON CONFLICT (purpose) WHERE purpose = 'blind-index' DO NOTHING`,
    [key.id, key.masterKeyId, key.encryptedKey, key.encryptionContext],
  );
  const winner = await findBlindIndexKey(db);
  if (winner === undefined) throw new Error('blind-index key vanished after insert');
  return winner;
}

export async function findDataKey(db: Queryable, id: string): Promise<DataKeyRow | undefined> {
  const { rows } = await db.query<DataKeyRecord>(`SELECT ${COLUMNS} FROM data_keys WHERE id = $1`, [
    id,
  ]);
  return rows[0] === undefined ? undefined : fromRecord(rows[0]);
}

export async function findBlindIndexKey(db: Queryable): Promise<DataKeyRow | undefined> {
  const { rows } = await db.query<DataKeyRecord>(
    `SELECT ${COLUMNS} FROM data_keys WHERE purpose = 'blind-index'`,
  );
  return rows[0] === undefined ? undefined : fromRecord(rows[0]);
}
