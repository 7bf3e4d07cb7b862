import { hkdfSync, randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeAuditCheckpoint } from '../../../lib/audit/auditCheckpoints.ts';
import { verifyAudit } from '../../../lib/audit/auditQueries.ts';
import { LocalAuditMac } from '../../../lib/crypto/localAuditMac.ts';
import { type AuditEntry, appendAudit } from '../../../lib/db/repositories/auditLog.ts';
import { InputValidationError } from '../../../lib/errors.ts';
import type { PipelineDependencies } from '../../../lib/pipeline/dependencies.ts';
import { recomputeChainFrom } from '../../helpers/auditForgeries.ts';
import { type TestDatabase, useTestDatabase } from '../../helpers/database.ts';
import { sweepDatabase } from '../../helpers/databaseSweep.ts';
import { useTestPipeline } from '../../helpers/pipeline.ts';

const auditor = 'user:auditor-verification';

const entry = (n: number): AuditEntry => ({
  actor: 'system:test',
  action: 'READ',
  resourceType: 'Patient',
  resourceId: null,
  runId: null,
  outcome: 'success',
  details: { n },
});

/**
 * Six statements of two rows (seq 1..12, sealed at every even seq), a checkpoint after the
 * fifth (seq 10), so the newest rows are sealed but newer than the checkpoint.
 */
async function writeChain(deps: PipelineDependencies): Promise<void> {
  for (let statement = 0; statement < 6; statement += 1) {
    await appendAudit(deps.pool, deps.auditMac, [entry(2 * statement), entry(2 * statement + 1)]);
    if (statement === 4) await writeAuditCheckpoint(deps);
  }
}

/** What whoever owns the database can do: anything, with the refuse-change triggers off. */
async function asOwner(database: TestDatabase, ...statements: string[]): Promise<void> {
  const client = await database.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete');
    await client.query('ALTER TABLE audit_seals DISABLE TRIGGER audit_seals_no_update_delete');
    for (const statement of statements) await client.query(statement);
    await client.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete');
    await client.query('ALTER TABLE audit_seals ENABLE TRIGGER audit_seals_no_update_delete');
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

/** Deletes the rows after `seq` and moves the head back to the row at `seq`. */
const truncateAfter = (seq: number) => [
  `DELETE FROM audit_log WHERE seq > ${seq}`,
  `UPDATE audit_chain_head SET seq = l.seq, hash = l.hash FROM audit_log l WHERE l.seq = ${seq}`,
];

/**
 * Edits the row at `seq`, then recomputes every hash from there with audit_row_hash() and
 * carries the new hashes into the head and the seals' hash column, as GET /audit/verify
 * checked before seals: a self-consistent chain.
 */
const editAndRecompute = (seq: number) => [
  `UPDATE audit_log SET actor = 'mallory' WHERE seq = ${seq}`,
  recomputeChainFrom(seq),
];

describe('GET /api/v1/audit/verify against the seals and the latest checkpoint', () => {
  const database = useTestDatabase({ perTest: true });
  const pipeline = useTestPipeline(database);

  it('finds an intact chain valid: sealed through its last row, checkpointed at seq 10', async () => {
    // Prepare
    await writeChain(pipeline.deps);

    // Act
    const result = await verifyAudit(pipeline.deps, auditor);

    // Assess
    expect(result).toStrictEqual({
      valid: true,
      rowsChecked: 12,
      walkedAfter: 0,
      firstBreak: null,
      problems: [],
      sealedThrough: 12,
      unsealedLegacyRows: 0,
      checkpoint: { seq: 10, at: expect.any(String) },
      checkedAt: expect.any(String),
    });
  });

  it('finds the newest rows deleted and the head moved back, in one transaction: truncated, past the checkpoint', async () => {
    // Prepare: the seals of the deleted rows go too, so the chain and its seals agree
    await writeChain(pipeline.deps);
    await asOwner(database, ...truncateAfter(6), 'DELETE FROM audit_seals WHERE seq > 6');

    // Act
    const result = await verifyAudit(pipeline.deps, auditor);

    // Assess: the chain alone is intact, as before seals and checkpoints it passed
    expect(result).toMatchObject({ valid: false, rowsChecked: 6, firstBreak: null });
    expect(result.problems).toStrictEqual([
      {
        problem: 'truncated',
        seq: 10,
        detail: 'the latest checkpoint names a row beyond the last one',
      },
    ]);
  });

  it('finds rows deleted and the head moved back with their seals left: truncated, by the seals', async () => {
    // Prepare: only rows newer than the checkpoint, which alone cannot tell
    await writeChain(pipeline.deps);
    await asOwner(database, ...truncateAfter(10));

    // Act
    const result = await verifyAudit(pipeline.deps, auditor);

    // Assess
    expect(result.problems).toStrictEqual([
      { problem: 'truncated', seq: 12, detail: 'a seal names a row beyond the last one' },
    ]);
  });

  it('finds a row edited and the chain recomputed with audit_row_hash(), head and seal hashes included: recomputed', async () => {
    // Prepare
    await writeChain(pipeline.deps);
    await asOwner(database, ...editAndRecompute(3));

    // Act
    const result = await verifyAudit(pipeline.deps, auditor);

    // Assess: no edit shows in the chain itself; the key and the checkpoint tell
    expect(result).toMatchObject({ valid: false, rowsChecked: 12, firstBreak: null });
    expect(result.problems).toStrictEqual([
      {
        problem: 'recomputed',
        seq: 12,
        detail: 'the newest seal does not verify under the audit MAC key',
      },
      {
        problem: 'recomputed',
        seq: 10,
        detail: 'the row hash at the latest checkpoint differs from the one it recorded',
      },
    ]);
  });

  it('finds a chain recomputed under seals it left alone: recomputed, at the first such seal', async () => {
    // Prepare
    await writeChain(pipeline.deps);
    const [, recompute] = editAndRecompute(5);
    await asOwner(
      database,
      "UPDATE audit_log SET actor = 'mallory' WHERE seq = 5",
      (recompute ?? '').replace(
        'UPDATE audit_seals s SET hash = l.hash FROM audit_log l WHERE l.seq = s.seq;',
        '',
      ),
    );

    // Act
    const result = await verifyAudit(pipeline.deps, auditor);

    // Assess
    expect(result.problems.map(({ problem, seq }) => ({ problem, seq }))).toStrictEqual([
      { problem: 'recomputed', seq: 6 },
      { problem: 'recomputed', seq: 10 },
    ]);
  });

  it('finds a row edited without recomputing: edited, and nothing else', async () => {
    // Prepare
    await writeChain(pipeline.deps);
    await asOwner(database, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 4");

    // Act
    const result = await verifyAudit(pipeline.deps, auditor);

    // Assess
    expect(result).toMatchObject({
      valid: false,
      firstBreak: { seq: 4, problem: 'hash-mismatch' },
    });
    expect(result.problems).toStrictEqual([
      {
        problem: 'edited',
        seq: 4,
        detail: 'a row changed without its hash being recomputed (hash-mismatch)',
      },
    ]);
  });

  it.each([
    ['the newest seals', 'DELETE FROM audit_seals WHERE seq > 8', [9]],
    // The checkpoint (seq 10) was written over a sealed head: its seals are gone too.
    ['every seal (the checkpoint still tells)', 'DELETE FROM audit_seals', [1, 10]],
  ])('finds %s deleted: unsealed', async (_, deletion, unsealedAt) => {
    // Prepare
    await writeChain(pipeline.deps);
    await asOwner(database, deletion);

    // Act
    const result = await verifyAudit(pipeline.deps, auditor);

    // Assess
    expect(result.problems.map(({ problem, seq }) => ({ problem, seq }))).toStrictEqual(
      unsealedAt.map((seq) => ({ problem: 'unsealed', seq })),
    );
  });

  it('finds a row inserted behind the application (chained by the trigger, never sealed): unsealed', async () => {
    // Prepare
    await writeChain(pipeline.deps);
    await database.pool.query(
      `INSERT INTO audit_log (actor, action, resource_type, outcome, details)
       VALUES ('mallory', 'READ', 'Patient', 'success', '{}')`,
    );

    // Act
    const result = await verifyAudit(pipeline.deps, auditor);

    // Assess
    expect(result).toMatchObject({ firstBreak: null, sealedThrough: 12 });
    expect(result.problems).toStrictEqual([
      {
        problem: 'unsealed',
        seq: 13,
        detail:
          '1 rows after the newest seal: written behind the application, or their seals deleted',
      },
    ]);
  });

  it.each([
    [
      'a checkpoint of a later seq with a MAC made without the key',
      JSON.stringify({
        seq: '99',
        hash: randomBytes(32).toString('hex'),
        at: new Date().toISOString(),
        mac: randomBytes(32).toString('base64'),
        macKeyId: 'local-audit-mac',
      }),
      99,
    ],
    ['a file that is no checkpoint', 'not a checkpoint', null],
  ])('finds %s in the store: checkpoint-forged', async (_, body, seq) => {
    // Prepare
    await writeChain(pipeline.deps);
    const directory = pipeline.deps.auditCheckpoints.location;
    await writeFile(join(directory, '0000000000000000000-99.json'), body, { mode: 0o400 });

    // Act
    const result = await verifyAudit(pipeline.deps, auditor);

    // Assess
    expect(result.problems).toStrictEqual([
      {
        problem: 'checkpoint-forged',
        seq,
        detail: 'the latest checkpoint does not verify under the audit MAC key',
      },
    ]);
  });

  describe('a later audited write never seals over a change made behind the application', () => {
    const write = (n: number) =>
      appendAudit(pipeline.deps.pool, pipeline.deps.auditMac, [entry(n)]);

    it('keeps a row inserted in SQL unsealed, and every row after it', async () => {
      // Prepare
      await writeChain(pipeline.deps);
      await database.pool.query(
        `INSERT INTO audit_log (actor, action, resource_type, outcome, details)
         VALUES ('mallory', 'READ', 'Patient', 'success', '{}')`,
      );

      // Act: the application goes on auditing (and verify audits itself too)
      await write(100);
      await write(101);
      const first = await verifyAudit(pipeline.deps, auditor);
      const second = await verifyAudit(pipeline.deps, auditor);

      // Assess
      expect(first).toMatchObject({ valid: false, sealedThrough: 12 });
      expect(first.problems.map((found) => [found.problem, found.seq])).toStrictEqual([
        ['unsealed', 13],
      ]);
      expect(second).toMatchObject({ valid: false, sealedThrough: 12 });
      expect(second.problems.map((found) => [found.problem, found.seq])).toStrictEqual([
        ['unsealed', 13],
      ]);
    });

    it('keeps a recomputation after the checkpoint found: no seal over the forged head', async () => {
      // Prepare: rows after the checkpoint (seq 10) edited, recomputed, seals' hashes rewritten
      await writeChain(pipeline.deps);
      await asOwner(database, ...editAndRecompute(11));

      // Act
      await write(100);
      const result = await verifyAudit(pipeline.deps, auditor);

      // Assess: the newest seal is still the one the change broke, and the rows after it unsealed
      expect(result).toMatchObject({ valid: false, sealedThrough: 12 });
      expect(result.problems.map((found) => [found.problem, found.seq])).toStrictEqual([
        ['recomputed', 12],
        ['unsealed', 13],
      ]);
    });

    it('finds every seal deleted, though the next write seals the log again as if it had none', async () => {
      // Prepare
      await writeChain(pipeline.deps);
      await asOwner(database, 'DELETE FROM audit_seals');

      // Act
      await write(100);
      const result = await verifyAudit(pipeline.deps, auditor);

      // Assess: the checkpoint at seq 10 was written over a sealed head
      expect(result.valid).toBe(false);
      expect(result.problems).toContainEqual({
        problem: 'unsealed',
        seq: 10,
        detail: 'the seals up to the latest checkpoint are gone',
      });
    });
  });

  it('takes rows written before seals existed, with no seal since, as legacy: not a problem', async () => {
    // Prepare: rows chained by the trigger alone, as before migration 1764000009000
    await database.pool.query(
      `INSERT INTO audit_log (actor, action, resource_type, outcome, details)
       SELECT 'system:legacy', 'READ', 'Patient', 'success', '{}' FROM generate_series(1, 3)`,
    );

    // Act
    const first = await verifyAudit(pipeline.deps, auditor);
    const second = await verifyAudit(pipeline.deps, auditor);

    // Assess: the first verification's own audit row is sealed, and its seal covers them
    expect(first).toMatchObject({
      valid: true,
      problems: [],
      sealedThrough: null,
      unsealedLegacyRows: 3,
    });
    expect(second).toMatchObject({ valid: true, sealedThrough: 4, unsealedLegacyRows: 0 });
  });

  describe('from the latest checkpoint (from=checkpoint)', () => {
    it('recomputes only the rows after the checkpoint, and finds the chain intact', async () => {
      // Prepare
      await writeChain(pipeline.deps);

      // Act
      const result = await verifyAudit(pipeline.deps, auditor, { from: 'checkpoint' });

      // Assess
      expect(result).toMatchObject({
        valid: true,
        rowsChecked: 2,
        walkedAfter: 10,
        problems: [],
        sealedThrough: 12,
      });
    });

    it.each([
      [
        'a truncation with the head moved back',
        [...truncateAfter(6), 'DELETE FROM audit_seals WHERE seq > 6'],
        ['truncated'],
      ],
      ['a recomputation with audit_row_hash()', editAndRecompute(3), ['recomputed', 'recomputed']],
      [
        'an edit after the checkpoint',
        ["UPDATE audit_log SET actor = 'mallory' WHERE seq = 11"],
        ['edited'],
      ],
      ['deleted seals', ['DELETE FROM audit_seals WHERE seq > 8'], ['unsealed']],
    ])('still finds %s', async (_, forgery, found) => {
      // Prepare
      await writeChain(pipeline.deps);
      await asOwner(database, ...forgery);

      // Act
      const result = await verifyAudit(pipeline.deps, auditor, { from: 'checkpoint' });

      // Assess
      expect(result.problems.map(({ problem }) => problem)).toEqual(found);
    });

    it('does not see an edit before the checkpoint that left the stored hashes alone; the full walk does', async () => {
      // Prepare
      await writeChain(pipeline.deps);
      await asOwner(database, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 4");

      // Act
      const fromCheckpoint = await verifyAudit(pipeline.deps, auditor, { from: 'checkpoint' });
      const full = await verifyAudit(pipeline.deps, auditor, { from: 'genesis' });

      // Assess
      expect(fromCheckpoint).toMatchObject({ valid: true, walkedAfter: 10 });
      expect(full.problems.map(({ problem, seq }) => ({ problem, seq }))).toEqual([
        { problem: 'edited', seq: 4 },
      ]);
    });

    it('walks the whole chain when the latest checkpoint does not verify', async () => {
      // Prepare
      await writeChain(pipeline.deps);
      const directory = pipeline.deps.auditCheckpoints.location;
      await writeFile(join(directory, '0000000000000000000-99.json'), 'not a checkpoint', {
        mode: 0o400,
      });

      // Act
      const result = await verifyAudit(pipeline.deps, auditor, { from: 'checkpoint' });

      // Assess
      expect(result).toMatchObject({ rowsChecked: 12, walkedAfter: 0 });
      expect(result.problems.map(({ problem }) => problem)).toEqual(['checkpoint-forged']);
    });

    it.each([
      ['an unknown from', { from: 'yesterday' }, '/from'],
      ['an unknown parameter', { since: '10' }, ''],
    ])('refuses %s with InputValidationError naming the parameter', async (_, query, path) => {
      // Act
      const error = await verifyAudit(pipeline.deps, auditor, query).then(
        () => undefined,
        (thrown: unknown) => thrown,
      );

      // Assess
      expect(error).toBeInstanceOf(InputValidationError);
      expect((error as InputValidationError).problems.map((problem) => problem.path)).toEqual([
        path,
      ]);
      expect(JSON.stringify((error as InputValidationError).problems)).not.toContain('yesterday');
    });
  });

  it('never puts the MAC key, nor the master key it is derived from, in the database', async () => {
    // Prepare
    const masterKey = randomBytes(32);
    const macKey = Buffer.from(
      hkdfSync('sha256', masterKey, Buffer.alloc(0), 'healthcare-etl/audit-mac/v1', 32),
    );
    const deps = { ...pipeline.deps, auditMac: new LocalAuditMac(masterKey) };
    await writeChain(deps);
    await verifyAudit(deps, auditor);

    // Act
    const { tables, cells } = await sweepDatabase(database.pool);
    const { rows: settings } = await database.pool.query<{ name: string; setting: string }>(
      `SELECT name, coalesce(setting, '') AS setting FROM pg_settings
       UNION ALL SELECT 'healthcare_etl.audit_head', coalesce(current_setting('healthcare_etl.audit_head', true), '')`,
    );

    // Assess
    expect(tables).toContain('audit_seals');
    const forms = (key: Buffer) => [
      key,
      Buffer.from(key.toString('hex')),
      Buffer.from(key.toString('base64')),
    ];
    const needles = [...forms(macKey), ...forms(masterKey)];
    const found = [
      ...cells.filter(({ value }) => {
        const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8');
        return needles.some((needle) => bytes.includes(needle));
      }),
      ...settings.filter(({ setting }) =>
        needles.some((needle) => Buffer.from(setting).includes(needle)),
      ),
    ];
    expect(cells.length).toBeGreaterThan(0);
    expect(found).toStrictEqual([]);
    // The checkpoint store holds a checkpoint, and it is outside the database.
    expect(await readdir(pipeline.deps.auditCheckpoints.location)).toHaveLength(1);
  });
});
