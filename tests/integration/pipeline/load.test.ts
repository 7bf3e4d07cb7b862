/**
 * Load weighs consent again under lock: a refusal on record since ConsentCheck (through the API
 * while the run was between stages, or before a failed run is re-driven) keeps the refusing
 * patient's new data out, each record a `revoked` consent rejection with its DENY row.
 */
import { randomUUID } from 'node:crypto';
import middy from '@middy/core';
import { describe, expect, it } from 'vitest';
import { findIngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import { listRejections } from '../../../lib/db/repositories/rejections.ts';
import { KeyServiceUnavailableError } from '../../../lib/errors.ts';
import { changeConsent } from '../../../lib/patients/consentChanges.ts';
import { classifyBatch } from '../../../lib/pipeline/envelopes.ts';
import { acceptSubmission } from '../../../lib/pipeline/intake.ts';
import { redriveRun } from '../../../lib/pipeline/runExecutions.ts';
import type { RunOutcome, StageResult } from '../../../lib/pipeline/stages.ts';
import type { StageHandler, TaskState } from '../../../lib/workflow/stageHandlers.ts';
import { InProcessWorkflow } from '../../../local/inProcessWorkflow.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { consentFor, ndjson, patientResource } from '../../helpers/fhir.ts';
import { FaultyKeyService } from '../../helpers/keyServices.ts';
import { createTestPipeline, flatRecord, type TestPipeline } from '../../helpers/pipeline.ts';
import { RecordingStarter } from '../../helpers/workflowStarters.ts';

const OPERATOR = 'user:consent-desk';

/** The Load state of `handlers`, with `before` run ahead of the real one. */
function beforeLoad(
  handlers: Readonly<Record<TaskState, StageHandler>>,
  before: () => Promise<void>,
): Record<TaskState, StageHandler> {
  const real = handlers.Load;
  return {
    ...handlers,
    Load: middy<unknown, StageResult | RunOutcome>().handler(async (event, context) => {
      await before();
      return real(event, context);
    }),
  };
}

const unique = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;

async function submitFhir(pipeline: TestPipeline, resources: readonly unknown[]): Promise<string> {
  const body = ndjson(resources);
  const contentType = 'application/fhir+ndjson';
  const { format, recordCount } = classifyBatch(body, contentType, 100_000);
  const { runId } = await acceptSubmission(pipeline.deps, {
    body,
    contentType,
    format,
    recordCount,
    actor: 'system:test-feed',
    source: 'test',
  });
  return runId;
}

describe('Load', () => {
  const database = useTestDatabase({ perTest: true });

  /** The patients a run created. */
  async function createdBy(runId: string): Promise<string[]> {
    const { rows } = await database.pool.query<{ id: string }>(
      'SELECT id FROM patients WHERE created_run_id = $1 ORDER BY id',
      [runId],
    );
    return rows.map((row) => row.id);
  }

  async function patientRow(id: string): Promise<unknown> {
    const { rows } = await database.pool.query('SELECT * FROM patients WHERE id = $1', [id]);
    return rows[0];
  }

  async function denialsOf(runId: string) {
    const { rows } = await database.pool.query<{
      resource_type: string;
      resource_id: string | null;
      outcome: string;
      details: Record<string, unknown>;
    }>(
      `SELECT resource_type, resource_id, outcome, details FROM audit_log
       WHERE run_id = $1 AND action = 'DENY' ORDER BY seq`,
      [runId],
    );
    return rows;
  }

  /** A flat patient stored with a grant, and the id it has. */
  async function storedPatient(pipeline: TestPipeline, mrn: string): Promise<string> {
    const { runId, execution } = await pipeline.ingest([flatRecord({ mrn, name: 'Rita Before' })]);
    expect(execution.status).toBe('SUCCEEDED');
    const [id] = await createdBy(runId);
    return id!;
  }

  /** What a run that met a refusal of the first record's patient must have left. */
  async function expectRevokedAtLoad(runId: string, refusingId: string, before: unknown) {
    expect(await patientRow(refusingId)).toStrictEqual(before);
    const { rows: consent } = await database.pool.query(
      'SELECT data_sharing, source FROM consents WHERE patient_id = $1',
      [refusingId],
    );
    expect(consent).toEqual([{ data_sharing: false, source: 'api' }]);
    expect(await listRejections(database.pool, runId)).toEqual([
      {
        runId,
        stage: 'load',
        recordIndex: 0,
        resourceType: 'Patient',
        reason: 'consent',
        details: { requires: 'data_sharing', consent: 'revoked' },
      },
    ]);
    expect(await denialsOf(runId)).toEqual([
      {
        resource_type: 'Patient',
        resource_id: null,
        outcome: 'denied',
        details: { stage: 'load', recordIndex: 0, reason: 'consent', consent: 'revoked' },
      },
    ]);
  }

  it('a refusal made through the API between ConsentCheck and Load keeps the patient out, and the other patient of the batch loads', async () => {
    // Prepare
    const pipeline = createTestPipeline(database);
    const refusing = unique('MRN-LOAD-RACE');
    const refusingId = await storedPatient(pipeline, refusing);
    const before = await patientRow(refusingId);
    const runId = await pipeline.submit([
      flatRecord({ mrn: refusing, name: 'Rita Changed' }),
      flatRecord({ mrn: unique('MRN-LOAD-NEW'), name: 'Nils New' }),
    ]);
    const workflow = new InProcessWorkflow(
      beforeLoad(pipeline.handlers, async () => {
        await changeConsent(pipeline.deps, OPERATOR, refusingId, { data_sharing: false });
      }),
      { retryIntervalMs: 0 },
    );

    // Act
    const execution = await workflow.execute(runId);

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    await expectRevokedAtLoad(runId, refusingId, before);
    expect(await createdBy(runId)).toHaveLength(1);
    const run = await findIngestRun(database.pool, runId);
    expect(run?.counts).toMatchObject({
      consented: 1,
      blocked: 1,
      rejected: 1,
      created: 1,
      updated: 0,
      loaded: 1,
    });
  });

  it('a refusal still uncommitted when Load reads consent makes Load wait at the lock, and the attempt retried stores nothing of the patient', async () => {
    // Prepare
    const pipeline = createTestPipeline(database);
    const refusing = unique('MRN-LOAD-INFLIGHT');
    const refusingId = await storedPatient(pipeline, refusing);
    const before = await patientRow(refusingId);
    const runId = await pipeline.submit([
      flatRecord({ mrn: refusing, name: 'Rita Changed' }),
      flatRecord({ mrn: unique('MRN-LOAD-NEW'), name: 'Nils New' }),
    ]);
    const change = await database.pool.connect();
    let committed: Promise<unknown> | undefined;
    const workflow = new InProcessWorkflow(
      beforeLoad(pipeline.handlers, async () => {
        if (committed !== undefined) return;
        // A refusal as the consent API writes it, its transaction still open as Load begins.
        await change.query('BEGIN');
        await change.query(
          `UPDATE consents SET data_sharing = false, source = 'api', explicit = true,
             recorded_at = now(), recorded_by = $2, run_id = NULL WHERE patient_id = $1`,
          [refusingId, OPERATOR],
        );
        committed = new Promise((resolve) => setTimeout(resolve, 500)).then(() =>
          change.query('COMMIT'),
        );
      }),
      { retryIntervalMs: 0 },
    );

    // Act
    const execution = await workflow.execute(runId);
    await committed;
    change.release();

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    expect(
      execution.events.flatMap((event) =>
        event.type === 'StateRetried' && 'state' in event ? [event.state.name] : [],
      ),
    ).toEqual(['Load']);
    await expectRevokedAtLoad(runId, refusingId, before);
    expect(await createdBy(runId)).toHaveLength(1);
  });

  it('a run re-driven after its Load failed stores nothing of a patient who refused meanwhile', async () => {
    // Prepare
    let failing = false;
    const keyService = new FaultyKeyService(() =>
      failing ? new KeyServiceUnavailableError('KMS unreachable') : undefined,
    );
    // Each Task starts cold, as separate Lambda functions do: Load must ask for its run key.
    const pipeline = createTestPipeline(database, { keyService, keyringPerTask: true });
    const refusing = unique('MRN-LOAD-REDRIVE');
    const refusingId = await storedPatient(pipeline, refusing);
    const before = await patientRow(refusingId);
    const runId = await pipeline.submit([
      flatRecord({ mrn: refusing, name: 'Rita Changed' }),
      flatRecord({ mrn: unique('MRN-LOAD-NEW'), name: 'Nils New' }),
    ]);
    const faulty = new InProcessWorkflow(
      beforeLoad(pipeline.handlers, async () => {
        failing = true;
      }),
      { retryIntervalMs: 0 },
    );
    const starter = new RecordingStarter();

    // Act
    const failed = await faulty.execute(runId);
    failing = false;
    await changeConsent(pipeline.deps, OPERATOR, refusingId, { data_sharing: false });
    await redriveRun({ ...pipeline.deps, workflow: starter }, runId);
    const redriven = await pipeline.workflow.execute(runId);

    // Assess
    expect(failed.status).toBe('FAILED');
    expect(starter.calls).toEqual([{ runId, attempt: 1 }]);
    expect(await findIngestRun(database.pool, runId)).toMatchObject({
      status: 'succeeded',
      counts: expect.objectContaining({ consented: 1, blocked: 1, rejected: 1, created: 1 }),
    });
    expect(redriven.status).toBe('SUCCEEDED');
    await expectRevokedAtLoad(runId, refusingId, before);
    expect(await createdBy(runId)).toHaveLength(1);
  });

  it('stops a FHIR patient refused since ConsentCheck with the resources about them, and keeps one whose Consent is dated after the refusal', async () => {
    // Prepare
    const pipeline = createTestPipeline(database);
    const [refusing, granting] = [unique('MRN-LOAD-FHIR-R'), unique('MRN-LOAD-FHIR-G')];
    const seeded = await submitFhir(pipeline, [
      patientResource('r', refusing, 'Refuser'),
      consentFor('Patient/r', { dateTime: '2025-01-01T00:00:00Z' }),
      patientResource('g', granting, 'Granter'),
      consentFor('Patient/g', { dateTime: '2025-01-01T00:00:00Z' }),
    ]);
    expect((await pipeline.workflow.execute(seeded)).status).toBe('SUCCEEDED');
    const seededIds = await createdBy(seeded);
    expect(seededIds).toHaveLength(2);
    const observation = (subject: string) => ({
      resourceType: 'Observation',
      id: `obs-${subject}`,
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      subject: { reference: `Patient/${subject}` },
      effectiveDateTime: '2026-02-03T04:05:06Z',
      valueQuantity: { value: 61, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    });
    const runId = await submitFhir(pipeline, [
      patientResource('r', refusing, 'Refuser'),
      observation('r'),
      patientResource('g', granting, 'Granter'),
      // Dated after the refusal below: it outranks it, under lock as at ConsentCheck.
      consentFor('Patient/g', { dateTime: '2025-09-01T00:00:00Z' }),
      observation('g'),
    ]);
    const workflow = new InProcessWorkflow(
      beforeLoad(pipeline.handlers, async () => {
        for (const id of seededIds) {
          await changeConsent(pipeline.deps, OPERATOR, id, {
            data_sharing: false,
            recordedAt: '2025-06-01T00:00:00Z',
          });
        }
      }),
      { retryIntervalMs: 0 },
    );

    // Act
    const execution = await workflow.execute(runId);

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    const rejections = await listRejections(database.pool, runId);
    expect(rejections.map((r) => [r.recordIndex, r.resourceType, r.stage, r.details])).toEqual([
      [0, 'Patient', 'load', { requires: 'data_sharing', consent: 'revoked' }],
      [1, 'Observation', 'load', { requires: 'data_sharing', consent: 'revoked' }],
    ]);
    expect((await denialsOf(runId)).map((row) => row.resource_type)).toEqual([
      'Patient',
      'Observation',
    ]);
    const { rows: stored } = await database.pool.query<{ id: string }>(
      'SELECT id FROM fhir_resources WHERE created_run_id = $1',
      [runId],
    );
    expect(stored).toHaveLength(1);
    const { rows: consents } = await database.pool.query<{ data_sharing: boolean }>(
      'SELECT data_sharing FROM consents WHERE patient_id = ANY($1::uuid[]) ORDER BY data_sharing',
      [seededIds],
    );
    expect(consents).toEqual([{ data_sharing: false }, { data_sharing: true }]);
    expect((await findIngestRun(database.pool, runId))?.counts).toMatchObject({
      blocked: 2,
      rejected: 2,
      consented: 1,
      resourcesLoaded: 1,
    });
  });
});
