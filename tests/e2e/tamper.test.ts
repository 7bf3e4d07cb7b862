import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { call, observerClient, query } from './api.ts';
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
