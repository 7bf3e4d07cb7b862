import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  checkpointAtRunEnd,
  checkpointMessage,
  writeAuditCheckpoint,
} from '../../../lib/audit/auditCheckpoints.ts';
import { DirectoryCheckpointStore } from '../../../lib/audit/directoryCheckpointStore.ts';
import {
  type AuditEntry,
  appendAudit,
  newestAuditSeal,
} from '../../../lib/db/repositories/auditLog.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { flatRecord, useTestPipeline } from '../../helpers/pipeline.ts';

const entry: AuditEntry = {
  actor: 'system:test',
  action: 'READ',
  resourceType: 'AuditEvent',
  resourceId: null,
  runId: null,
  outcome: 'success',
  details: {},
};

describe('writeAuditCheckpoint', () => {
  const database = useTestDatabase({ perTest: true });
  const pipeline = useTestPipeline(database);

  it('writes nothing before the first seal', async () => {
    // Act
    const outcome = await writeAuditCheckpoint(pipeline.deps);

    // Assess
    expect(outcome).toEqual({ written: false, reason: 'empty' });
    expect(await pipeline.deps.auditCheckpoints.latest()).toBeUndefined();
  });

  it('checkpoints the newest seal with a MAC the key verifies, then only once the chain moved', async () => {
    // Prepare
    const { deps } = pipeline;
    await appendAudit(deps.pool, deps.auditMac, [entry, entry, entry]);

    // Act
    const first = await writeAuditCheckpoint(deps);
    const again = await writeAuditCheckpoint(deps);
    await appendAudit(deps.pool, deps.auditMac, [entry]);
    const moved = await writeAuditCheckpoint(deps);

    // Assess
    expect([first, again, moved]).toEqual([
      { written: true, seq: '3' },
      { written: false, reason: 'unchanged' },
      { written: true, seq: '4' },
    ]);
    const latest = await deps.auditCheckpoints.latest();
    const seal = await newestAuditSeal(deps.pool);
    expect(latest).toMatchObject({ seq: '4', hash: seal?.hash, macKeyId: deps.auditMac.keyId });
    expect(
      await deps.auditMac.verifyMac(
        checkpointMessage(latest!.seq, latest!.hash, latest!.at),
        latest!.mac,
      ),
    ).toBe(true);
    expect(await readdir(deps.auditCheckpoints.location)).toHaveLength(2);
  });

  it('refuses to checkpoint a newest seal whose MAC does not verify (a recomputed chain)', async () => {
    // Prepare
    const { deps } = pipeline;
    await appendAudit(deps.pool, deps.auditMac, [entry]);
    const client = await database.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('ALTER TABLE audit_seals DISABLE TRIGGER audit_seals_no_update_delete');
      await client.query('UPDATE audit_seals SET hash = $1', [randomBytes(32)]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }

    // Act
    const outcome = await writeAuditCheckpoint(deps);

    // Assess
    expect(outcome).toEqual({ written: false, reason: 'seal-forged' });
    expect(await deps.auditCheckpoints.latest()).toBeUndefined();
  });

  it('is written at the end of every run, by Publish', async () => {
    // Act
    const { runId } = await pipeline.ingest([flatRecord({ mrn: 'MRN-CHECKPOINT-1' })]);

    // Assess
    const seal = await newestAuditSeal(database.pool);
    const latest = await pipeline.deps.auditCheckpoints.latest();
    expect(runId).toBeDefined();
    expect(latest?.seq).toBe(seal?.seq);
  });

  it('at a run end, a store that cannot be written does not fail the run: the error is logged, not thrown', async () => {
    // Prepare: a directory under a regular file can never be created (ENOTDIR)
    const { deps } = pipeline;
    await appendAudit(deps.pool, deps.auditMac, [entry]);
    const notADirectory = new DirectoryCheckpointStore('/dev/null/audit-checkpoints');
    const warnings: unknown[] = [];
    const logger = Object.assign(Object.create(deps.logger), {
      warn: (...args: unknown[]) => warnings.push(args),
    });

    // Act
    const done = checkpointAtRunEnd({ ...deps, auditCheckpoints: notADirectory, logger });

    // Assess
    await expect(done).resolves.toBeUndefined();
    expect(warnings).toEqual([['audit checkpoint failed', { errorName: 'Error' }]]);
  });
});
