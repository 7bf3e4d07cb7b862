import { randomBytes, randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { LocalAuditMac } from '../../../lib/crypto/localAuditMac.ts';
import {
  AUDIT_ACTIONS,
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

describe('audit_row_hash', () => {
  const database = useTestDatabase();

  /** The definition before 1764000013000, kept to prove that every row still hashes the same. */
  const FORMER_ROW_HASH = `
    CREATE OR REPLACE FUNCTION former_audit_row_hash(
      p_prev_hash bytea, p_seq bigint, p_id uuid, p_at timestamptz, p_actor text, p_action text,
      p_resource_type text, p_resource_id text, p_run_id uuid, p_outcome text, p_details jsonb
    ) RETURNS bytea LANGUAGE sql STABLE AS $$
      SELECT sha256(p_prev_hash || convert_to(jsonb_build_array(
        p_seq, p_id, to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), p_actor,
        p_action, p_resource_type, p_resource_id, p_run_id, p_outcome, p_details)::text, 'UTF8'))
    $$`;

  /** Strings a JSON printer can get wrong: escapes, control characters, unicode, nothing. */
  const ODD_STRINGS = [
    '',
    'plain',
    'quote " backslash \\ slash /',
    '\\u0041 written out, \\n too',
    'controls \u0001\u0008\u0009\u000a\u000c\u000d\u001b\u001f\u007f',
    'Zoë Ørsted, 日本語, עברית, 🎉, e\u0301',
    'line separators \u2028\u2029 and </script>',
    "'single' and `back` quotes",
    ' leading and trailing spaces ',
    'x'.repeat(10_000),
  ];

  /** Details as writers send them: empty, nested, numbers in every spelling, odd keys, big. */
  const ODD_DETAILS: Record<string, unknown>[] = [
    {},
    { stage: 'load', patientId: randomUUID() },
    { n: 1.5, big: 1e300, small: 1e-300, negative: -0, whole: 2 ** 70, zero: 0 },
    { flag: true, off: false, nothing: null, list: [1, 'two', null, [], {}, [[]]] },
    { '': 'empty key', 'quote"key': 'v', ключ: 'значение', '🎉': ['🎉'] },
    { nested: { deeper: { deepest: ODD_STRINGS } } },
    { b: 1, a: 2, aa: 3, A: 4 },
    { many: Array.from({ length: 2_000 }, (_, i) => ({ i, id: randomUUID() })) },
  ];

  it('hashes every row the trigger writes exactly as the former definition did', async () => {
    // Prepare
    await database.pool.query(FORMER_ROW_HASH);
    const entries = ODD_STRINGS.flatMap((text, i) =>
      ODD_DETAILS.map((details, j) =>
        entry({
          actor: text,
          action: AUDIT_ACTIONS[(i + j) % AUDIT_ACTIONS.length]!,
          resourceType: ODD_STRINGS[(i + j) % ODD_STRINGS.length]!,
          resourceId: j % 3 === 0 ? null : text,
          runId: j % 2 === 0 ? null : randomUUID(),
          outcome: (['success', 'denied', 'failure'] as const)[j % 3]!,
          details: { ...details, text },
        }),
      ),
    );
    const client = await database.pool.connect();

    // Act: statements in one transaction, one rolled back to a savepoint, and concurrent writers.
    try {
      await client.query('BEGIN');
      await appendAudit(client, mac, entries.slice(0, 20));
      await client.query('SAVEPOINT undone');
      await appendAudit(client, mac, entries.slice(20, 40));
      await client.query('ROLLBACK TO SAVEPOINT undone');
      await appendAudit(client, mac, entries.slice(40, 60));
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        appendAudit(database.pool, mac, entries.slice(60 + i * 5, 65 + i * 5)),
      ),
    );
    await appendAudit(database.pool, mac, entries);

    // Assess
    const { rows } = await database.pool.query<{ rows: number; differ: number }>(
      `SELECT count(*)::int AS rows,
              count(*) FILTER (WHERE hash IS DISTINCT FROM former_audit_row_hash(prev_hash, seq, id,
                at, actor, action, resource_type, resource_id, run_id, outcome, details))::int AS differ
       FROM audit_log`,
    );
    expect(rows[0]).toEqual({ rows: 40 + 20 + entries.length, differ: 0 });
    expect(await verifyAuditChain(database.pool)).toMatchObject({
      rows: 40 + 20 + entries.length,
      firstBreak: undefined,
    });
  });

  it('yields the former bytes for any value, nulls, scalars and odd times included', async () => {
    // Prepare
    await database.pool.query(FORMER_ROW_HASH);
    const texts = [null, ...ODD_STRINGS];
    const details = [
      null,
      ...[...ODD_DETAILS, '"scalar"', 42, 1.5e-7, true, null, [1, [2, { three: 3 }]]].map((value) =>
        JSON.stringify(value),
      ),
    ];

    // Act
    const { rows } = await database.pool.query<{ rows: number; differ: number }>(
      `WITH text_value AS (SELECT t, row_number() OVER () AS i FROM unnest($1::text[]) t),
       detail AS (SELECT d, row_number() OVER () AS j FROM unnest($2::jsonb[]) d),
       moment AS (SELECT at, row_number() OVER () AS k FROM unnest(ARRAY[
         NULL, '2026-01-01 00:00:00+00', '2026-06-30 23:59:59.999999+14', '1999-12-31 12:00:00.5-05',
         '0044-03-15 12:00:00 BC', '12026-01-01 00:00:00+00', 'infinity', '-infinity'
       ]::timestamptz[]) at),
       sample AS (
         SELECT CASE WHEN i % 5 = 0 THEN NULL ELSE sha256(i::text::bytea) END AS prev_hash,
                (ARRAY[NULL, 0, 1, -1, 9223372036854775807, -9223372036854775808]::bigint[])[1 + (i + j) % 6] AS seq,
                CASE WHEN j % 4 = 0 THEN NULL ELSE gen_random_uuid() END AS id,
                at, t AS actor, t AS action,
                (SELECT t FROM text_value o WHERE o.i = 1 + (v.i + j) % $3) AS resource_type,
                t AS resource_id,
                CASE WHEN k % 2 = 0 THEN NULL ELSE gen_random_uuid() END AS run_id,
                (SELECT t FROM text_value o WHERE o.i = 1 + (v.i + k) % $3) AS outcome,
                d AS details
         FROM text_value v CROSS JOIN detail CROSS JOIN moment
       )
       SELECT count(*)::int AS rows,
              count(*) FILTER (WHERE audit_row_hash(prev_hash, seq, id, at, actor, action,
                resource_type, resource_id, run_id, outcome, details)
                IS DISTINCT FROM former_audit_row_hash(prev_hash, seq, id, at, actor, action,
                resource_type, resource_id, run_id, outcome, details))::int AS differ
       FROM sample`,
      [texts, details, texts.length],
    );

    // Assess
    expect(rows[0]).toEqual({ rows: texts.length * details.length * 8, differ: 0 });
  });
});
