import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AuditEntry,
  appendAudit,
  verifyAuditChain,
} from '../../../lib/db/repositories/auditLog.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.ts';

const entry = (overrides: Partial<AuditEntry> = {}): AuditEntry => ({
  actor: 'system:test',
  action: 'CREATE',
  resourceType: 'Patient',
  resourceId: '6a3c1f0e-0000-4000-8000-000000000001',
  runId: null,
  outcome: 'success',
  details: { stage: 'load' },
  ...overrides,
});

describe('audit_log', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    await database.drop();
  });

  it('chains each row to the previous one and verifies clean', async () => {
    // Prepare
    await appendAudit(database.pool, [
      entry(),
      entry({ action: 'READ' }),
      entry({ action: 'DENY', outcome: 'denied' }),
    ]);

    // Act
    const { rows } = await database.pool.query<{ seq: string; prev_hash: Buffer; hash: Buffer }>(
      'SELECT seq, prev_hash, hash FROM audit_log ORDER BY seq',
    );
    const verification = await verifyAuditChain(database.pool);

    // Assess
    expect(rows.map((row) => row.seq)).toEqual(['1', '2', '3']);
    expect(rows[0]?.prev_hash.equals(Buffer.alloc(32))).toBe(true);
    expect(rows[1]?.prev_hash.equals(rows[0]!.hash)).toBe(true);
    expect(rows[2]?.prev_hash.equals(rows[1]!.hash)).toBe(true);
    expect(verification).toEqual({ rows: 3, firstBreak: undefined });
  });

  it.each([
    ['UPDATE', "UPDATE audit_log SET actor = 'mallory'"],
    ['DELETE', 'DELETE FROM audit_log'],
    ['TRUNCATE', 'TRUNCATE audit_log'],
  ])('refuses %s', async (_operation, statement) => {
    // Act and assess
    await expect(database.pool.query(statement)).rejects.toThrow(/append-only/);
  });

  it('keeps the chain intact under concurrent writers', async () => {
    // Act
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        appendAudit(database.pool, [
          entry({ details: { writer: i } }),
          entry({ details: { writer: i, n: 2 } }),
        ]),
      ),
    );

    // Assess
    expect(await verifyAuditChain(database.pool)).toEqual({ rows: 19, firstBreak: undefined });
  });
});

describe('audit_log tampering', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
    await appendAudit(database.pool, [
      entry(),
      entry({ action: 'READ' }),
      entry({ action: 'UPDATE' }),
    ]);
  });

  afterAll(async () => {
    await database.drop();
  });

  it('finds a row a superuser edited behind the trigger', async () => {
    // Prepare
    const client = await database.pool.connect();
    try {
      await client.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete');
      await client.query("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2");
      await client.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete');
    } finally {
      client.release();
    }

    // Act
    const verification = await verifyAuditChain(database.pool);

    // Assess
    expect(verification.firstBreak).toEqual({ seq: '2', problem: 'hash-mismatch' });
  });
});
