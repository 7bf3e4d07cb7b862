import { randomBytes, randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { LocalAuditMac } from '../../../lib/crypto/localAuditMac.ts';
import {
  type AuditEntry,
  appendAudit,
  newestAuditSeal,
  sealMessage,
  verifyAuditChain,
} from '../../../lib/db/repositories/auditLog.ts';
import { useTestDatabase } from '../../helpers/database.ts';

const mac = new LocalAuditMac(randomBytes(32));

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
  const database = useTestDatabase();

  it('chains each row to the previous one and verifies clean', async () => {
    // Prepare
    await appendAudit(database.pool, mac, [
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
    expect(verification).toMatchObject({
      rows: 3,
      firstBreak: undefined,
      firstSealMismatch: null,
      rowsAfterNewestSeal: 0,
      newestSeal: { seq: '3', hash: rows[2]?.hash, macKeyId: mac.keyId },
    });
  });

  it('seals each statement once, at its last row, with a MAC the key verifies', async () => {
    // Prepare
    const before = await newestAuditSeal(database.pool);
    const from = BigInt(before?.seq ?? '0');

    // Act
    await appendAudit(database.pool, mac, [entry(), entry(), entry()]);
    await appendAudit(database.pool, mac, [entry()]);

    // Assess
    const { rows } = await database.pool.query<{ seq: string; hash: Buffer; mac: Buffer }>(
      `SELECT s.seq, s.hash, s.mac FROM audit_seals s JOIN audit_log l USING (seq, hash)
       WHERE s.seq > $1 ORDER BY s.seq`,
      [from.toString()],
    );
    expect(rows.map((row) => BigInt(row.seq) - from)).toEqual([3n, 4n]);
    for (const row of rows) {
      expect(await mac.verifyMac(sealMessage(row.seq, row.hash), row.mac)).toBe(true);
      expect(await mac.verifyMac(sealMessage(row.seq, randomBytes(32)), row.mac)).toBe(false);
    }
  });

  it.each([
    ['UPDATE', "UPDATE audit_log SET actor = 'mallory' WHERE resource_id = $1"],
    ['DELETE', 'DELETE FROM audit_log WHERE resource_id = $1'],
    ['TRUNCATE', 'TRUNCATE audit_log'],
  ])('refuses %s', async (_operation, statement) => {
    // Prepare: a row of this test's own, so the row triggers have something to refuse
    const resourceId = randomUUID();
    await appendAudit(database.pool, mac, [entry({ resourceId })]);
    const values = statement.includes('$1') ? [resourceId] : [];

    // Act
    const attempt = database.pool.query(statement, values);

    // Assess
    await expect(attempt).rejects.toThrow(/append-only/);
    const { rows } = await database.pool.query<{ actor: string }>(
      'SELECT actor FROM audit_log WHERE resource_id = $1',
      [resourceId],
    );
    expect(rows).toEqual([{ actor: 'system:test' }]);
  });

  it('keeps the chain intact under concurrent writers', async () => {
    // Prepare
    const before = (await verifyAuditChain(database.pool)).rows;

    // Act
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        appendAudit(database.pool, mac, [
          entry({ details: { writer: i } }),
          entry({ details: { writer: i, n: 2 } }),
        ]),
      ),
    );

    // Assess
    expect(await verifyAuditChain(database.pool)).toMatchObject({
      rows: before + 16,
      firstBreak: undefined,
    });
  });

  it('writes the head once per statement, and keeps it right across statements, a rolled-back savepoint and interleaved transactions', async () => {
    // Prepare
    const before = (await verifyAuditChain(database.pool)).rows;
    const first = await database.pool.connect();
    const second = await database.pool.connect();

    // Act
    try {
      await first.query('BEGIN');
      await appendAudit(first, mac, [entry({ details: { n: 1 } }), entry({ details: { n: 2 } })]);
      await first.query('SAVEPOINT undone');
      await appendAudit(first, mac, [entry({ details: { n: 'undone' } })]);
      await first.query('ROLLBACK TO SAVEPOINT undone');
      await appendAudit(first, mac, [entry({ details: { n: 3 } })]);
      // The second writer waits on the head row's lock until the first commits.
      const waiting = (async () => {
        await second.query('BEGIN');
        await appendAudit(second, mac, [
          entry({ details: { n: 4 } }),
          entry({ details: { n: 5 } }),
        ]);
        await second.query('COMMIT');
      })();
      await appendAudit(
        first,
        mac,
        Array.from({ length: 500 }, (_, n) => entry({ details: { n } })),
      );
      await first.query('COMMIT');
      await waiting;
    } finally {
      first.release();
      second.release();
    }

    // Assess
    expect(await verifyAuditChain(database.pool)).toMatchObject({
      rows: before + 505,
      firstBreak: undefined,
    });
    const { rows } = await database.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_log WHERE details ->> 'n' = 'undone'`,
    );
    expect(rows[0]?.n).toBe(0);
    // One seal per committed statement: the rolled-back one's seal went with its row.
    const { rows: seals } = await database.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_seals s JOIN audit_log l USING (seq)
       WHERE l.details ->> 'n' = 'undone'`,
    );
    expect(seals[0]?.n).toBe(0);
  });

  it('a carried head forged in the session only breaks the chain, and verification finds it', async () => {
    // Prepare
    const client = await database.pool.connect();

    // Act
    try {
      await client.query('BEGIN');
      await client.query(
        // Ahead of the real head: a seq already taken would be refused by the primary key.
        `SELECT set_config('healthcare_etl.audit_head',
           pg_current_xact_id()::text || ':' || (seq + 10) || ':' || repeat('ab', 32), true)
         FROM audit_chain_head`,
      );
      await appendAudit(client, mac, [entry({ details: { forged: true } })]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }

    // Assess
    expect((await verifyAuditChain(database.pool)).firstBreak).toBeDefined();
  });
});

describe('audit_log tampering', () => {
  // A fresh chain of three rows for each forgery.
  const database = useTestDatabase({ perTest: true });

  /** What only a superuser can do: switch the append-only trigger off around `statement`. */
  async function behindTheTrigger(statement: string): Promise<void> {
    const client = await database.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete');
      await client.query(statement);
      await client.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete');
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
  }

  beforeEach(async () => {
    await appendAudit(database.pool, mac, [
      entry(),
      entry({ action: 'READ' }),
      entry({ action: 'UPDATE' }),
    ]);
  });

  it.each([
    ['edited a row', "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2", '2', 'hash-mismatch'],
    ['deleted a middle row', 'DELETE FROM audit_log WHERE seq = 2', '3', 'prev-hash-mismatch'],
    [
      'deleted the last row (tail truncation)',
      'DELETE FROM audit_log WHERE seq = 3',
      '2',
      'head-mismatch',
    ],
    // A careful forger: row 2 verifies on its own, so only the next link can betray it.
    [
      "edited a row's details and recomputed its hash with audit_row_hash",
      `UPDATE audit_log
       SET details = '{"stage":"forged"}'::jsonb,
           hash = audit_row_hash(prev_hash, seq, id, at, actor, action, resource_type,
                                 resource_id, run_id, outcome, '{"stage":"forged"}'::jsonb)
       WHERE seq = 2`,
      '3',
      'prev-hash-mismatch',
    ],
  ])('finds that a superuser %s behind the trigger', async (_forgery, statement, seq, problem) => {
    // Prepare
    expect(await verifyAuditChain(database.pool)).toMatchObject({ rows: 3, firstBreak: undefined });
    await behindTheTrigger(statement);

    // Act
    const verification = await verifyAuditChain(database.pool);

    // Assess
    expect(verification.firstBreak).toEqual({ seq, problem });
  });
});
