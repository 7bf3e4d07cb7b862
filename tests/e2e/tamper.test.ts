import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { recomputeChainFrom } from '../helpers/auditForgeries.ts';
import { call, ingest, observerClient, query, token, waitForRun } from './api.ts';
import { tokenAs } from './principals.ts';

/** Sets one audit row's actor as a superuser could: behind the disabled append-only trigger. */
async function overwriteActor(seq: string, actor: string): Promise<void> {
  const client = observerClient();
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete');
    await client.query('UPDATE audit_log SET actor = $1 WHERE seq = $2', [actor, seq]);
    await client.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete');
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    await client.end();
  }
}

describe('a tampered audit log', () => {
  it('an actor edited behind the trigger is the first break (hash-mismatch); restoring it makes the chain valid again', async () => {
    // Prepare: an audit row of our own, written by an audited read of the audit log
    const subject = `auditor-${randomBytes(4).toString('hex')}`;
    const auditor = await tokenAs(subject, ['system/AuditEvent.r']);
    await call('GET', '/api/v1/audit?limit=1', { token: auditor });
    const [row] = await query<{ seq: string; actor: string }>(
      'SELECT seq::text, actor FROM audit_log WHERE actor = $1 ORDER BY seq LIMIT 1',
      [subject],
    );
    if (row === undefined) throw new Error('the audited read wrote no audit row');
    const intact = await call('GET', '/api/v1/audit/verify', { token: auditor });

    // Act
    await overwriteActor(row.seq, 'mallory');
    let tampered: Awaited<ReturnType<typeof call>>;
    try {
      tampered = await call('GET', '/api/v1/audit/verify', { token: auditor });
    } finally {
      await overwriteActor(row.seq, row.actor);
    }
    const repaired = await call('GET', '/api/v1/audit/verify', { token: auditor });
    const refused = await query("UPDATE audit_log SET actor = 'mallory' WHERE seq = $1", [
      row.seq,
    ]).then(
      () => undefined,
      (error: { code?: string }) => error.code,
    );

    // Assess
    expect(intact.json).toMatchObject({ valid: true, firstBreak: null });
    expect(tampered.status).toBe(200);
    expect(tampered.json).toMatchObject({
      valid: false,
      firstBreak: { seq: Number(row.seq), problem: 'hash-mismatch' },
    });
    expect(repaired.json).toMatchObject({ valid: true, firstBreak: null });
    // The trigger is back: the same edit without disabling it is refused.
    expect(refused).toBe('42501');
  });
});

/** The stack's audit checkpoints: embedded, a directory beside its master key and JWT secret. */
const checkpointDirectory = () => join(dirname(inject('jwtSecretFile')), 'audit-checkpoints');

/** The seq of the latest checkpoint the stack wrote, 0 before the first. */
async function latestCheckpointSeq(): Promise<number> {
  const names = (await readdir(checkpointDirectory()).catch(() => [])).sort();
  const newest = names.find((name) => /^\d{19}-\d+\.json$/.test(name));
  return newest === undefined
    ? 0
    : Number(JSON.parse(await readFile(join(checkpointDirectory(), newest), 'utf8')).seq);
}

/** Runs one small ingest to its end, and waits for Publish to checkpoint the chain past its rows. */
async function checkpointedRun(): Promise<number> {
  const writer = await token(['system/Patient.c']);
  const accepted = await ingest(
    [
      {
        resourceType: 'Patient',
        mrn: `MRN-TAMPER-${randomBytes(4).toString('hex')}`,
        name: 'Tamper Checkpoint',
        consent: { data_sharing: true },
      },
    ],
    writer,
  );
  const runId: string = accepted.json.runId;
  await waitForRun(runId, writer);
  const [loaded] = await query<{ seq: string }>(
    'SELECT max(seq)::text AS seq FROM audit_log WHERE run_id = $1',
    [runId],
  );
  const deadline = Date.now() + 30_000;
  while ((await latestCheckpointSeq()) < Number(loaded?.seq ?? Number.POSITIVE_INFINITY)) {
    if (Date.now() > deadline) throw new Error('Publish wrote no checkpoint past the run');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return latestCheckpointSeq();
}

/** What a restore needs: the rows and seals after `seq`, and the head, as they were. */
interface Snapshot {
  readonly after: number;
  readonly rows: unknown;
  readonly seals: unknown;
  readonly head: { seq: string; hash: string };
}

async function snapshotAfter(after: number): Promise<Snapshot> {
  const [saved] = await query<{ rows: unknown; seals: unknown; seq: string; hash: string }>(
    `SELECT (SELECT json_agg(l ORDER BY seq) FROM audit_log l WHERE seq > $1) AS rows,
            (SELECT json_agg(s ORDER BY seq) FROM audit_seals s WHERE seq > $1) AS seals,
            h.seq::text AS seq, encode(h.hash, 'hex') AS hash
     FROM audit_chain_head h`,
    [after],
  );
  if (saved === undefined) throw new Error('no chain head');
  return {
    after,
    rows: saved.rows,
    seals: saved.seals,
    head: { seq: saved.seq, hash: saved.hash },
  };
}

/** Runs `statements` as whoever owns the database can: every audit trigger off, in one transaction. */
async function asOwner(statements: readonly [string, unknown[]][]): Promise<void> {
  const client = observerClient();
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query('ALTER TABLE audit_log DISABLE TRIGGER USER');
    await client.query('ALTER TABLE audit_seals DISABLE TRIGGER USER');
    for (const [sql, values] of statements) await client.query(sql, values);
    await client.query('ALTER TABLE audit_log ENABLE TRIGGER USER');
    await client.query('ALTER TABLE audit_seals ENABLE TRIGGER USER');
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    await client.end();
  }
}

/** Puts back the rows, seals and head of a snapshot, dropping whatever came after it meanwhile. */
async function restore(snapshot: Snapshot): Promise<void> {
  await asOwner([
    ['DELETE FROM audit_log WHERE seq > $1', [snapshot.after]],
    ['DELETE FROM audit_seals WHERE seq > $1', [snapshot.after]],
    [
      'INSERT INTO audit_log SELECT * FROM json_populate_recordset(null::audit_log, $1)',
      [JSON.stringify(snapshot.rows)],
    ],
    [
      'INSERT INTO audit_seals SELECT * FROM json_populate_recordset(null::audit_seals, $1)',
      [JSON.stringify(snapshot.seals)],
    ],
    [
      "UPDATE audit_chain_head SET seq = $1, hash = decode($2, 'hex')",
      [snapshot.head.seq, snapshot.head.hash],
    ],
  ]);
}

describe('an audit log rewritten by whoever owns the database', () => {
  it('the newest rows deleted and the head moved back in one transaction: truncated, by the checkpoint outside the database; valid again once restored', async () => {
    // Prepare: a checkpoint past a run's rows; the truncation keeps to a statement's seal
    const auditor = await tokenAs(`auditor-${randomBytes(4).toString('hex')}`, [
      'system/AuditEvent.r',
    ]);
    const checkpointSeq = await checkpointedRun();
    const [sealed] = await query<{ seq: string }>(
      'SELECT max(seq)::text AS seq FROM audit_seals WHERE seq < $1',
      [checkpointSeq],
    );
    const keep = Number(sealed?.seq);
    const snapshot = await snapshotAfter(keep);

    // Act
    await asOwner([
      ['DELETE FROM audit_log WHERE seq > $1', [keep]],
      ['DELETE FROM audit_seals WHERE seq > $1', [keep]],
      [
        'UPDATE audit_chain_head h SET seq = l.seq, hash = l.hash FROM audit_log l WHERE l.seq = $1',
        [keep],
      ],
    ]);
    let tampered: Awaited<ReturnType<typeof call>>;
    try {
      tampered = await call('GET', '/api/v1/audit/verify', { token: auditor });
    } finally {
      await restore(snapshot);
    }
    const restored = await call('GET', '/api/v1/audit/verify', { token: auditor });

    // Assess: the chain alone is intact, as it was when this went unnoticed
    expect(tampered.status).toBe(200);
    expect(tampered.json).toMatchObject({ valid: false, firstBreak: null });
    expect(tampered.json.problems).toEqual([
      { problem: 'truncated', seq: checkpointSeq, detail: expect.any(String) },
    ]);
    expect(restored.json).toMatchObject({ valid: true, problems: [] });
  });

  it('a row edited and every later hash, the head and the seal hashes recomputed with audit_row_hash(): recomputed, by the key and the checkpoint; valid again once restored', async () => {
    // Prepare
    const auditor = await tokenAs(`auditor-${randomBytes(4).toString('hex')}`, [
      'system/AuditEvent.r',
    ]);
    const checkpointSeq = await checkpointedRun();
    const edited = checkpointSeq - 1;
    const snapshot = await snapshotAfter(edited - 1);

    // Act
    await asOwner([
      ["UPDATE audit_log SET actor = 'mallory' WHERE seq = $1", [edited]],
      [recomputeChainFrom(edited), []],
    ]);
    let tampered: Awaited<ReturnType<typeof call>>;
    try {
      tampered = await call('GET', '/api/v1/audit/verify', { token: auditor });
    } finally {
      await restore(snapshot);
    }
    const restored = await call('GET', '/api/v1/audit/verify', { token: auditor });

    // Assess
    expect(tampered.json).toMatchObject({ valid: false, firstBreak: null });
    expect(tampered.json.problems).toEqual([
      expect.objectContaining({
        problem: 'recomputed',
        detail: 'the newest seal does not verify under the audit MAC key',
      }),
      expect.objectContaining({ problem: 'recomputed', seq: checkpointSeq }),
    ]);
    expect(restored.json).toMatchObject({ valid: true, problems: [] });
  });
});
