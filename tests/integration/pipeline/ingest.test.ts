import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decryptFieldText } from '../../../lib/crypto/fieldCipher.ts';
import { listAuditByRun, verifyAuditChain } from '../../../lib/db/repositories/auditLog.ts';
import { findConsent } from '../../../lib/db/repositories/consents.ts';
import { findIngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import { findPatientById } from '../../../lib/db/repositories/patients.ts';
import { listPipelineEvents } from '../../../lib/db/repositories/pipelineEvents.ts';
import { listRejections } from '../../../lib/db/repositories/rejections.ts';
import { DecryptionError, StagePayloadMissingError } from '../../../lib/errors.ts';
import { openPayload } from '../../../lib/pipeline/claimCheck.ts';
import { PostgresPayloadStore } from '../../../lib/pipeline/payloadStore.ts';
import type { StageHandler } from '../../../lib/workflow/stageHandlers.ts';
import { type TestDatabase, useTestDatabase } from '../../helpers/database.ts';
import { occurrences } from '../../helpers/databaseSweep.ts';
import { flatRecord, sealedPayloads, useTestPipeline } from '../../helpers/pipeline.ts';
import { thrownBy } from '../../helpers/thrown.ts';

async function patientIds(database: TestDatabase): Promise<string[]> {
  const { rows } = await database.pool.query<{ id: string }>('SELECT id FROM patients ORDER BY id');
  return rows.map((row) => row.id);
}

/** Every value of every column of every row of `table`, as raw bytes or text. */
async function rawCells(database: TestDatabase, table: string): Promise<Array<Buffer | string>> {
  const { rows } = await database.pool.query<Record<string, unknown>>(`SELECT * FROM ${table}`);
  return rows.flatMap((row) =>
    Object.values(row).map((value) =>
      Buffer.isBuffer(value)
        ? value
        : typeof value === 'object'
          ? JSON.stringify(value)
          : String(value),
    ),
  );
}

function containsBytes(cell: Buffer | string, needle: string): boolean {
  return Buffer.isBuffer(cell) ? cell.includes(Buffer.from(needle, 'utf8')) : cell.includes(needle);
}

describe('ingest through the real ASL', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);

  it('stores the DESIGN.md record as ciphertext only, and decrypts it back exactly', async () => {
    // Prepare
    const record = flatRecord();

    // Act
    const { runId, execution } = await pipeline.ingest([record]);

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.output).toMatchObject({ runId, status: 'succeeded' });
    expect(execution.output?.counts).toMatchObject({
      received: 1,
      valid: 1,
      consented: 1,
      created: 1,
      rejected: 0,
    });
    const ids = await patientIds(database);
    expect(ids).toHaveLength(1);
    // Not stage_payloads: Publish has purged them (asserted below); the next test reads them mid-run.
    for (const table of ['patients', 'consents', 'ingest_runs', 'audit_log', 'data_keys']) {
      const cells = await rawCells(database, table);
      for (const phi of ['MRN-001', 'Jane Doe', '1990-01-15', '123-45-6789']) {
        expect(
          cells.filter((cell) => containsBytes(cell, phi)),
          `${phi} in ${table}`,
        ).toEqual([]);
      }
    }
    const patient = await findPatientById(database.pool, ids[0]!);
    const key = await pipeline.deps.keyring.rowKey(database.pool, patient!.dataKeyId);
    const aad = (column: string) => ({ table: 'patients', column, rowId: patient!.id });
    expect(decryptFieldText(key, patient!.mrnEnc, aad('mrn_enc'))).toBe('MRN-001');
    expect(decryptFieldText(key, patient!.nameEnc!, aad('name_enc'))).toBe('Jane Doe');
    expect(decryptFieldText(key, patient!.birthDateEnc!, aad('birth_date_enc'))).toBe('1990-01-15');
    expect(decryptFieldText(key, patient!.ssnEnc!, aad('ssn_enc'))).toBe('123-45-6789');
    expect(JSON.parse(decryptFieldText(key, patient!.sourceEnc!, aad('source_enc')))).toEqual(
      record,
    );
    expect(patient!.gender).toBe('female');
    expect(await findConsent(database.pool, patient!.id)).toMatchObject({
      dataSharing: true,
      research: false,
      source: 'ingest',
      recordedBy: 'system:test-feed',
      runId,
    });
    const run = await findIngestRun(database.pool, runId);
    expect(run).toMatchObject({ status: 'succeeded', currentStage: 'load', errorCode: null });
    expect(Object.keys(run!.stageTimings).sort()).toEqual([
      'consentCheck',
      'extract',
      'load',
      'transform',
      'validate',
    ]);
    const payloads = await database.pool.query('SELECT 1 FROM stage_payloads WHERE run_id = $1', [
      runId,
    ]);
    expect(payloads.rowCount).toBe(0);
    expect((await listPipelineEvents(database.pool, runId)).map((event) => event.body)).toEqual([
      expect.objectContaining({
        type: 'ingest.run.succeeded',
        runId,
        status: 'succeeded',
        errorCode: null,
      }),
    ]);
  });

  it('keeps each stage payload as ciphertext while the run is under way, then purges them', async () => {
    // Prepare
    const phi = {
      mrn: 'MRN-MIDRUN-1',
      name: 'Mila Midrun',
      birthDate: '1984-07-09',
      ssn: '321-54-9876',
    };
    const runId = await pipeline.submit([flatRecord(phi)]);
    const context = {} as Parameters<StageHandler>[1];
    const storedAfter: Record<string, string[]> = {};

    // Act
    for (const state of ['Extract', 'Validate', 'ConsentCheck', 'Transform', 'Load'] as const) {
      await pipeline.handlers[state]({ runId }, context);
      storedAfter[state] = (await sealedPayloads(pipeline.deps, runId)).map((row) => row.stage);
    }
    const beforePublish = await sealedPayloads(pipeline.deps, runId);
    const runDirectory = join(pipeline.deps.payloadStore.location, runId);
    const filesBeforePublish = readdirSync(runDirectory);
    await pipeline.handlers.Publish({ runId }, context);

    // Assess
    expect(storedAfter).toEqual({
      Extract: ['extracted', 'received'],
      Validate: ['extracted', 'received', 'validated'],
      ConsentCheck: ['consented', 'extracted', 'received', 'validated'],
      Transform: ['consented', 'extracted', 'received', 'transformed', 'validated'],
      Load: ['consented', 'extracted', 'received', 'transformed', 'validated'],
    });
    const cells = beforePublish.map((row) => ({
      table: 'stage_payloads',
      column: row.stage,
      value: row.sealed!,
    }));
    expect(cells.every((cell) => Buffer.isBuffer(cell.value))).toBe(true);
    expect(occurrences(cells, Object.values(phi))).toEqual([]);
    expect(filesBeforePublish).toHaveLength(5);
    // What they hide: the PHI itself, readable with the run's key only.
    const run = await findIngestRun(database.pool, runId);
    const key = await pipeline.deps.keyring.runKey(database.pool, run!.dataKeyId, runId);
    const extracted = beforePublish.find((row) => row.stage === 'extracted')!;
    const opened = JSON.stringify(openPayload(key, runId, 'extracted', extracted.sealed!));
    expect(Object.values(phi).filter((value) => opened.includes(value))).toEqual(
      Object.values(phi),
    );
    expect(await sealedPayloads(pipeline.deps, runId)).toEqual([]);
    expect(existsSync(runDirectory)).toBe(false);
  });

  it('fails a stage whose input object is gone with StagePayloadMissingError, though its row is there', async () => {
    // Prepare
    const runId = await pipeline.submit([flatRecord({ mrn: 'MRN-OBJECT-GONE-1' })]);
    const context = {} as Parameters<StageHandler>[1];
    await pipeline.handlers.Extract({ runId }, context);
    const runDirectory = join(pipeline.deps.payloadStore.location, runId);
    for (const name of readdirSync(runDirectory).filter((file) => file.startsWith('extracted-'))) {
      rmSync(join(runDirectory, name));
    }

    // Act
    const thrown = await thrownBy(() => pipeline.handlers.Validate({ runId }, context));

    // Assess
    expect(thrown).toBeInstanceOf(StagePayloadMissingError);
    expect((await sealedPayloads(pipeline.deps, runId)).map((row) => row.stage)).toEqual([
      'extracted',
      'received',
    ]);
    expect(await findIngestRun(database.pool, runId)).toMatchObject({ currentStage: 'extract' });
  });

  it('writes audit rows for every create, chained and verifiable', async () => {
    // Act
    const { runId } = await pipeline.ingest([
      flatRecord({ mrn: 'MRN-AUDIT-1' }),
      flatRecord({ mrn: 'MRN-AUDIT-2', consent: { data_sharing: false } }),
    ]);

    // Assess
    const audit = await listAuditByRun(database.pool, runId);
    expect(audit.map((row) => [row.action, row.resourceType, row.outcome])).toEqual([
      ['DENY', 'Patient', 'denied'],
      ['CREATE', 'Patient', 'success'],
      ['CREATE', 'Consent', 'success'],
    ]);
    expect(audit.every((row) => row.actor === 'system:test-feed')).toBe(true);
    expect(JSON.stringify(audit)).not.toContain('MRN-AUDIT');
    expect(await verifyAuditChain(database.pool)).toMatchObject({ firstBreak: undefined });
  });

  it('ingesting the same batch twice stores no duplicate and audits no second create', async () => {
    // Prepare
    const batch = [
      flatRecord({ mrn: 'MRN-TWICE-1' }),
      flatRecord({ mrn: 'MRN-TWICE-2', name: 'Ann Lee' }),
    ];
    const before = (await patientIds(database)).length;

    // Act
    const first = await pipeline.ingest(batch);
    const second = await pipeline.ingest(batch);

    // Assess
    expect(first.execution.output?.counts).toMatchObject({ created: 2, updated: 0, unchanged: 0 });
    expect(second.execution.output?.counts).toMatchObject({
      created: 0,
      updated: 0,
      unchanged: 2,
      loaded: 2,
    });
    expect(await patientIds(database)).toHaveLength(before + 2);
    expect(await listAuditByRun(database.pool, second.runId)).toEqual([]);
  });

  it('updates a patient whose data changed, audited as UPDATE', async () => {
    // Prepare
    await pipeline.ingest([flatRecord({ mrn: 'MRN-CHANGE', name: 'Old Name' })]);

    // Act
    const { runId, execution } = await pipeline.ingest([
      flatRecord({ mrn: 'MRN-CHANGE', name: 'New Name' }),
    ]);

    // Assess
    expect(execution.output?.counts).toMatchObject({ created: 0, updated: 1 });
    const [update] = await listAuditByRun(database.pool, runId);
    expect(update).toMatchObject({ action: 'UPDATE', resourceType: 'Patient' });
    const patient = await findPatientById(database.pool, update!.resourceId!);
    const key = await pipeline.deps.keyring.rowKey(database.pool, patient!.dataKeyId);
    expect(
      decryptFieldText(key, patient!.nameEnc!, {
        table: 'patients',
        column: 'name_enc',
        rowId: patient!.id,
      }),
    ).toBe('New Name');
  });

  it('a ciphertext copied to another row or column fails to decrypt', async () => {
    // Prepare
    await pipeline.ingest([
      flatRecord({ mrn: 'MRN-COPY-A', name: 'Alice A' }),
      flatRecord({ mrn: 'MRN-COPY-B', name: 'Bob B' }),
    ]);
    const { rows } = await database.pool.query<{
      id: string;
      name_enc: Buffer;
      data_key_id: string;
    }>(
      `SELECT id, name_enc, data_key_id FROM patients WHERE updated_run_id IS NOT NULL
       ORDER BY created_at DESC LIMIT 2`,
    );
    const [a, b] = rows as [(typeof rows)[0], (typeof rows)[0]];
    const key = await pipeline.deps.keyring.rowKey(database.pool, a.data_key_id);

    // Act: the way a copied ciphertext would be read back, under its new row and column
    const movedRow = () =>
      decryptFieldText(key, a.name_enc, { table: 'patients', column: 'name_enc', rowId: b.id });
    const movedColumn = () =>
      decryptFieldText(key, a.name_enc, { table: 'patients', column: 'ssn_enc', rowId: a.id });
    const movedTable = () =>
      decryptFieldText(key, a.name_enc, { table: 'observations', column: 'name_enc', rowId: a.id });

    // Assess
    expect(
      decryptFieldText(key, a.name_enc, { table: 'patients', column: 'name_enc', rowId: a.id }),
    ).toMatch(/^(Alice A|Bob B)$/);
    expect(movedRow).toThrow(DecryptionError);
    expect(movedColumn).toThrow(DecryptionError);
    expect(movedTable).toThrow(DecryptionError);
  });
});

describe('validation and consent', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);

  it('rejects invalid records by path, never by value, and still loads the valid ones', async () => {
    // Prepare
    const batch = [
      flatRecord({ mrn: 'MRN-V-OK-1' }),
      flatRecord({ mrn: 'MRN-V-BAD-DATE', birthDate: '1990-02-30' }),
      (({ mrn: _mrn, ...rest }) => rest)(flatRecord({ name: 'Missing Mrn-Person' })),
      flatRecord({ mrn: 'MRN-V-BAD-SSN', ssn: '12-345-6789' }),
      flatRecord({ mrn: 424242, name: 'Numeric Mrn-Person' }),
      flatRecord({ mrn: 'MRN-V-BAD-GENDER', gender: 'F' }),
      flatRecord({ mrn: 'MRN-V-OK-2' }),
      flatRecord({ mrn: 'MRN-V-OK-1', name: 'Duplicate Person' }),
    ];

    // Act
    const { runId, execution } = await pipeline.ingest(batch);

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.output?.counts).toMatchObject({
      received: 8,
      valid: 2,
      invalid: 5,
      duplicates: 1,
      created: 2,
      rejected: 6,
    });
    const rejections = await listRejections(database.pool, runId);
    expect(rejections.map((r) => [r.recordIndex, r.reason, r.stage])).toEqual([
      [1, 'schema', 'validate'],
      [2, 'schema', 'validate'],
      [3, 'schema', 'validate'],
      [4, 'schema', 'validate'],
      [5, 'schema', 'validate'],
      [7, 'duplicate-in-batch', 'validate'],
    ]);
    const paths = (index: number) => {
      const problems = rejections.find((r) => r.recordIndex === index)!.details['problems'];
      return (problems as Array<{ path: string; keyword: string }>).map(
        (problem) => `${problem.path} ${problem.keyword}`,
      );
    };
    expect(paths(1)).toEqual(['/birthDate format']);
    expect(paths(2)).toEqual([' required']);
    expect(paths(3)).toEqual(['/ssn pattern']);
    expect(paths(4)).toEqual(['/mrn type']);
    expect(paths(5)).toEqual(['/gender enum']);
    expect(rejections.find((r) => r.recordIndex === 7)?.details).toEqual({
      firstRecordIndex: 0,
      field: 'mrn',
    });
    const stored = JSON.stringify(rejections);
    for (const value of [
      '1990-02-30',
      'Missing Mrn-Person',
      '12-345-6789',
      '424242',
      'Duplicate Person',
      'MRN-V',
    ]) {
      expect(stored).not.toContain(value);
    }
  });

  it('blocks records whose data_sharing consent is false or absent, with the right counts', async () => {
    // Prepare
    const batch = [
      flatRecord({ mrn: 'MRN-C-YES' }),
      flatRecord({ mrn: 'MRN-C-NO', consent: { data_sharing: false, research: true } }),
      (({ consent: _consent, ...rest }) => rest)(flatRecord({ mrn: 'MRN-C-ABSENT' })),
      flatRecord({ mrn: 'MRN-C-EMPTY', consent: {} }),
      flatRecord({ mrn: 'MRN-C-YES-2', consent: { data_sharing: true } }),
    ];
    const before = await database.pool.query('SELECT count(*)::int AS n FROM patients');

    // Act
    const { runId, execution } = await pipeline.ingest(batch);

    // Assess
    expect(execution.output?.counts).toMatchObject({
      received: 5,
      valid: 5,
      consented: 2,
      blocked: 3,
      created: 2,
      rejected: 3,
    });
    const rejections = await listRejections(database.pool, runId);
    expect(rejections.map((r) => [r.recordIndex, r.reason, r.details])).toEqual([
      [1, 'consent', { requires: 'data_sharing', consent: 'refused' }],
      [2, 'consent', { requires: 'data_sharing', consent: 'absent' }],
      [3, 'consent', { requires: 'data_sharing', consent: 'absent' }],
    ]);
    const after = await database.pool.query('SELECT count(*)::int AS n FROM patients');
    expect(after.rows[0].n - before.rows[0].n).toBe(2);
    const denials = (await listAuditByRun(database.pool, runId)).filter(
      (row) => row.action === 'DENY',
    );
    expect(denials.map((row) => row.details['recordIndex'])).toEqual([1, 2, 3]);
  });

  it('a batch where nobody consents succeeds with nothing stored', async () => {
    // Act
    const { runId, execution } = await pipeline.ingest([
      flatRecord({ mrn: 'MRN-C-NONE', consent: { data_sharing: false } }),
    ]);

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.output?.counts).toMatchObject({
      consented: 0,
      blocked: 1,
      created: 0,
      loaded: 0,
    });
    expect((await findIngestRun(database.pool, runId))?.status).toBe('succeeded');
  });
});

describe('ingest with the payloads in PostgreSQL', () => {
  const database = useTestDatabase();
  const inline = useTestPipeline(database, { payloadStore: new PostgresPayloadStore() });

  it('keeps the payloads inline in stage_payloads with PAYLOAD_STORE=postgres, through to the purge', async () => {
    // Prepare
    const runId = await inline.submit([flatRecord({ mrn: 'MRN-INLINE-1' })]);
    const context = {} as Parameters<StageHandler>[1];

    // Act
    for (const state of ['Extract', 'Validate', 'ConsentCheck', 'Transform', 'Load'] as const) {
      await inline.handlers[state]({ runId }, context);
    }
    const { rows: beforePublish } = await database.pool.query<{
      stage: string;
      inline: boolean;
      location: string | null;
    }>(
      `SELECT stage, ciphertext IS NOT NULL AS inline, location FROM stage_payloads
       WHERE run_id = $1 ORDER BY stage`,
      [runId],
    );
    await inline.handlers.Publish({ runId }, context);

    // Assess
    expect(beforePublish).toEqual(
      ['consented', 'extracted', 'received', 'transformed', 'validated'].map((stage) => ({
        stage,
        inline: true,
        location: null,
      })),
    );
    expect(await findIngestRun(database.pool, runId)).toMatchObject({ status: 'succeeded' });
    expect(await sealedPayloads(inline.deps, runId)).toEqual([]);
  });
});
