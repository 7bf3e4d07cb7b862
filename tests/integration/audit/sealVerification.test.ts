import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { writeAuditCheckpoint } from '../../../lib/audit/auditCheckpoints.ts';
import { verifyAudit } from '../../../lib/audit/auditQueries.ts';
import { LocalAuditMac } from '../../../lib/crypto/localAuditMac.ts';
import { type AuditEntry, appendAudit } from '../../../lib/db/repositories/auditLog.ts';
import { CountingAuditMac } from '../../../local/countingAuditMac.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { useTestPipeline } from '../../helpers/pipeline.ts';

const entry = (n: number): AuditEntry => ({
  actor: 'system:test',
  action: 'READ',
  resourceType: 'Patient',
  resourceId: null,
  runId: null,
  outcome: 'success',
  details: { n },
});

describe('sealing an audit statement: the seal before it is verified once per process', () => {
  const database = useTestDatabase({ perTest: true });
  const pipeline = useTestPipeline(database);

  it('verifies no seal this process made, and a seal another process made only once', async () => {
    // Prepare: two processes' key adapters over one key
    const key = randomBytes(32);
    const first = new CountingAuditMac(new LocalAuditMac(key));
    const second = new CountingAuditMac(new LocalAuditMac(key));

    // Act
    for (let n = 0; n < 3; n += 1) await appendAudit(database.pool, first, [entry(n)]);
    for (let n = 3; n < 6; n += 1) await appendAudit(database.pool, second, [entry(n)]);
    await appendAudit(database.pool, first, [entry(6)]);

    // Assess: one MAC per statement; the second verified the first's seal once, and the first
    // verified the second's newest seal once
    expect([first.generated, first.verified]).toStrictEqual([4, 1]);
    expect([second.generated, second.verified]).toStrictEqual([3, 1]);
    const { rows } = await database.pool.query<{ seals: number }>(
      'SELECT count(*)::int AS seals FROM audit_seals',
    );
    expect(rows[0]?.seals).toBe(7);
  });

  it('checkpoints a seal this process made without verifying it, and one it did not after one verification', async () => {
    // Prepare
    const key = randomBytes(32);
    const sealer = new CountingAuditMac(new LocalAuditMac(key));
    const publisher = new CountingAuditMac(new LocalAuditMac(key));
    await appendAudit(database.pool, sealer, [entry(0)]);

    // Act
    const own = await writeAuditCheckpoint({ ...pipeline.deps, auditMac: sealer });
    await appendAudit(database.pool, sealer, [entry(1)]);
    const other = await writeAuditCheckpoint({ ...pipeline.deps, auditMac: publisher });

    // Assess: a MAC per checkpoint; only the seal the publisher had never seen was verified
    expect(own).toStrictEqual({ written: true, seq: '1' });
    expect(other).toStrictEqual({ written: true, seq: '2' });
    expect([sealer.generated, sealer.verified]).toStrictEqual([3, 0]);
    expect([publisher.generated, publisher.verified]).toStrictEqual([1, 1]);
  });

  it('verifies a seal changed in the database after this process made it, and seals nothing over it', async () => {
    // Prepare: a seal the process made, then its MAC replaced by whoever owns the database
    const mac = new CountingAuditMac(pipeline.deps.auditMac);
    await appendAudit(database.pool, mac, [entry(0)]);
    const client = await database.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('ALTER TABLE audit_seals DISABLE TRIGGER audit_seals_no_update_delete');
      await client.query('UPDATE audit_seals SET mac = $1', [randomBytes(32)]);
      await client.query('ALTER TABLE audit_seals ENABLE TRIGGER audit_seals_no_update_delete');
      await client.query('COMMIT');
    } finally {
      client.release();
    }

    // Act
    await appendAudit(database.pool, mac, [entry(1)]);
    const result = await verifyAudit(pipeline.deps, 'user:auditor-seals');

    // Assess: the changed seal was verified (and failed), so the row after it stayed unsealed
    expect(mac.verified).toBe(1);
    expect(mac.generated).toBe(1);
    expect(result.valid).toBe(false);
    expect(result.problems.map((found) => found.problem)).toContain('unsealed');
  });
});
