import { describe, expect, it } from 'vitest';
import { decryptFieldText } from '../../../lib/crypto/fieldCipher.ts';
import { listPatientResources } from '../../../lib/db/repositories/fhirResources.ts';
import { findIngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import { listRejections } from '../../../lib/db/repositories/rejections.ts';
import { findPatientsByMrn } from '../../../lib/patients/patientAccess.ts';
import { type TestDatabase, useTestDatabase } from '../../helpers/database.ts';
import { occurrences, sweepDatabase } from '../../helpers/databaseSweep.ts';
import {
  bundle,
  consentFor,
  type FhirJson,
  MR_TYPE,
  mrnOf,
  namesOf,
  ndjson,
  patientResource,
  ssnOf,
  syntheaResources,
  syntheaText,
} from '../../helpers/fhir.ts';
import { flatRecord, useTestPipeline } from '../../helpers/pipeline.ts';

const NDJSON = 'application/fhir+ndjson';
const FHIR_JSON = 'application/fhir+json';
/** The patient Observation.sample.ndjson refers to; in neither Patient file. */
const SAMPLE_SUBJECT_ID = '0bee1bc6-1a91-bcd5-7bc0-02fadc5217d6';

async function reasonsOf(database: TestDatabase, runId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const { reason } of await listRejections(database.pool, runId)) {
    counts[reason] = (counts[reason] ?? 0) + 1;
  }
  return counts;
}

async function createdBy(database: TestDatabase, table: string, runId: string): Promise<number> {
  const { rows } = await database.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${table} WHERE created_run_id = $1`,
    [runId],
  );
  return rows[0]?.n ?? 0;
}

describe('FHIR R4 input through the real pipeline', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);

  it('Patient.100.ndjson with a Consent for every other patient: exactly that half loads, with no plaintext PHI', async () => {
    // Prepare
    const patients = syntheaResources('Patient.100.ndjson');
    const consented = patients.filter((_, index) => index % 2 === 0);
    const body = ndjson([
      ...patients,
      ...consented.map((patient) => consentFor(`Patient/${patient.id}`)),
    ]);

    // Act
    const { runId, execution } = await pipeline.ingestBody(body, NDJSON);

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    const run = await findIngestRun(database.pool, runId);
    expect(run?.status).toBe('succeeded');
    expect(run?.counts).toMatchObject({
      received: 180,
      extracted: 180,
      consented: 60,
      blocked: 60,
      created: 60,
      loaded: 60,
      consentsRecorded: 60,
    });
    expect(await reasonsOf(database, runId)).toEqual({ consent: 60 });
    const rejected = (await listRejections(database.pool, runId)).map((row) => row.recordIndex);
    expect(rejected).toEqual(patients.map((_, index) => index).filter((index) => index % 2 === 1));
    expect(await createdBy(database, 'patients', runId)).toBe(60);
    for (const [index, patient] of patients.entries()) {
      const found = await findPatientsByMrn(
        pipeline.deps,
        'system:test-reader',
        mrnOf(patient),
      ).then(
        (views) => views.length,
        () => 0,
      );
      expect(found, `patient ${index}`).toBe(index % 2 === 0 ? 1 : 0);
    }
    const sweep = await sweepDatabase(database.pool);
    const phi = patients.flatMap((patient) => [
      mrnOf(patient),
      ssnOf(patient),
      ...namesOf(patient),
    ]);
    expect(
      occurrences(
        sweep.cells,
        [...new Set(phi)].filter((value) => value.length >= 5),
      ),
    ).toEqual([]);
  });

  it('Observation.sample.ndjson alone: every Observation is an orphan-reference; after its patient is loaded, all are stored with exact values', async () => {
    // Prepare
    const observations = syntheaResources('Observation.sample.ndjson');

    // Act
    const orphans = await pipeline.ingestBody(syntheaText('Observation.sample.ndjson'), NDJSON);
    const patient = await pipeline.ingestBody(
      ndjson([
        patientResource(SAMPLE_SUBJECT_ID, 'MRN-SAMPLE-SUBJECT', 'Samplesubject'),
        consentFor(`Patient/${SAMPLE_SUBJECT_ID}`),
      ]),
      NDJSON,
    );
    const stored = await pipeline.ingestBody(syntheaText('Observation.sample.ndjson'), NDJSON);

    // Assess
    expect(orphans.execution.status).toBe('SUCCEEDED');
    expect(await reasonsOf(database, orphans.runId)).toEqual({ 'orphan-reference': 9 });
    for (const rejection of await listRejections(database.pool, orphans.runId)) {
      expect(rejection.details).toEqual({ element: 'subject', reference: 'not-found' });
    }
    expect(await createdBy(database, 'fhir_resources', orphans.runId)).toBe(0);
    expect(await reasonsOf(database, patient.runId)).toEqual({});
    expect(await reasonsOf(database, stored.runId)).toEqual({});
    const run = await findIngestRun(database.pool, stored.runId);
    expect(run?.counts).toMatchObject({ 'Observation.created': 9, resourcesLoaded: 9 });

    const [view] = await findPatientsByMrn(pipeline.deps, 'system:test', 'MRN-SAMPLE-SUBJECT');
    const rows = await listPatientResources(database.pool, view!.id, 'Observation');
    expect(rows).toHaveLength(9);
    const key = await pipeline.deps.keyring.rowKey(database.pool, rows[0]!.dataKeyId);
    const sources = rows.map(
      (row) =>
        JSON.parse(
          decryptFieldText(key, row.sourceEnc, {
            table: 'fhir_resources',
            column: 'source_enc',
            rowId: row.id,
          }),
        ) as FhirJson,
    );
    expect(sources.map((source) => source.id).sort()).toEqual(
      observations.map((observation) => observation.id).sort(),
    );
    for (const observation of observations) {
      const source = sources.find((candidate) => candidate.id === observation.id);
      expect(source).toEqual(observation);
      const row = rows[sources.indexOf(source!)]!;
      expect(row.code).toBe(
        (observation['code'] as { coding: { code: string }[] }).coding[0]!.code,
      );
      expect(row.status).toBe(observation['status']);
    }
  });

  it.each([
    ['Immunization.10.ndjson', 'Immunization', 161],
    ['AllergyIntolerance.10.ndjson', 'AllergyIntolerance', 11],
  ] as const)(
    '%s: every resource is stored with its consented patient or rejected for its patient, none skipped',
    async (file, type, lines) => {
      // Act
      const { runId, execution } = await pipeline.ingestBody(syntheaText(file), NDJSON);

      // Assess
      expect(execution.status).toBe('SUCCEEDED');
      const run = await findIngestRun(database.pool, runId);
      expect(run?.status).toBe('succeeded');
      const rejections = await listRejections(database.pool, runId);
      for (const rejection of rejections) {
        expect(rejection.resourceType).toBe(type);
        expect(['orphan-reference', 'consent']).toContain(rejection.reason);
      }
      const stored = await createdBy(database, 'fhir_resources', runId);
      expect(run?.counts[`${type}.created`] ?? 0).toBe(stored);
      expect(stored + rejections.length).toBe(lines);
      expect(run?.counts).toMatchObject({ unsupported: 0 });
    },
  );

  it.each(['collection', 'batch', 'transaction'] as const)(
    'a %s Bundle of Patients, Observations and Consents linked by urn:uuid loads in one run with the right links',
    async (type) => {
      // Prepare
      const tag = `${type.toUpperCase()}-${Date.now()}`;
      const observation = (subject: string, value: number) => ({
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
        subject: { reference: subject },
        effectiveDateTime: '2026-02-03T04:05:06Z',
        valueQuantity: { value, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
      });
      const uuid = (n: number) => `urn:uuid:${tag.toLowerCase().replace(/[^0-9a-z]/g, '')}-${n}`;
      const body = bundle(type, [
        { fullUrl: uuid(1), resource: patientResource(undefined, `MRN-${tag}-A`, 'Anders') },
        { fullUrl: uuid(2), resource: patientResource(undefined, `MRN-${tag}-B`, 'Brandt') },
        { fullUrl: uuid(3), resource: observation(uuid(1), 61) },
        { fullUrl: uuid(4), resource: observation(uuid(2), 72) },
        { fullUrl: uuid(5), resource: observation(uuid(1), 63) },
        { fullUrl: uuid(6), resource: consentFor(uuid(1)) },
        { fullUrl: uuid(7), resource: consentFor(uuid(2), { provision: 'deny' }) },
      ]);

      // Act
      const { runId, execution } = await pipeline.ingestBody(body, FHIR_JSON);

      // Assess
      expect(execution.status).toBe('SUCCEEDED');
      const rejections = await listRejections(database.pool, runId);
      expect(
        rejections.map(({ recordIndex, resourceType, reason }) => [
          recordIndex,
          resourceType,
          reason,
        ]),
      ).toEqual([
        [1, 'Patient', 'consent'],
        [3, 'Observation', 'consent'],
      ]);
      const [anders] = await findPatientsByMrn(pipeline.deps, 'system:test', `MRN-${tag}-A`);
      expect(anders?.consent.dataSharing).toBe(true);
      const rows = await listPatientResources(database.pool, anders!.id, 'Observation');
      expect(rows).toHaveLength(2);
      expect(await createdBy(database, 'fhir_resources', runId)).toBe(2);
      const brandt = await findPatientsByMrn(pipeline.deps, 'system:test', `MRN-${tag}-B`);
      expect(brandt).toEqual([]);
    },
  );

  it('a type no patient owns that names a patient (a Contract) is gated by that patient: stored with them, or a consent rejection', async () => {
    // Prepare
    const tag = `CONTRACT-${Date.now()}`;
    const contract = (id: string, patient: string) => ({
      resourceType: 'Contract',
      id,
      status: 'executed',
      subject: [{ reference: patient }],
    });
    const body = ndjson([
      patientResource(`${tag}-a`, `MRN-${tag}-A`, 'Ames'),
      consentFor(`Patient/${tag}-a`),
      patientResource(`${tag}-b`, `MRN-${tag}-B`, 'Baird'),
      contract(`${tag}-1`, `Patient/${tag}-a`),
      contract(`${tag}-2`, `Patient/${tag}-b`),
      contract(`${tag}-3`, 'Patient/nobody-we-know'),
      { resourceType: 'Organization', id: `${tag}-org`, name: 'Names no patient' },
    ]);

    // Act
    const { runId, execution } = await pipeline.ingestBody(body, NDJSON);

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    const rejections = await listRejections(database.pool, runId);
    expect(rejections.map(({ recordIndex, reason }) => [recordIndex, reason])).toEqual([
      [2, 'consent'],
      [4, 'consent'],
      [5, 'orphan-reference'],
    ]);
    const [ames] = await findPatientsByMrn(pipeline.deps, 'system:test', `MRN-${tag}-A`);
    const { rows } = await database.pool.query<{
      resource_type: string;
      patient_id: string | null;
    }>(
      'SELECT resource_type, patient_id FROM fhir_resources WHERE created_run_id = $1 ORDER BY resource_type',
      [runId],
    );
    expect(rows).toEqual([
      { resource_type: 'Contract', patient_id: ames?.id },
      { resource_type: 'Organization', patient_id: null },
    ]);
  });

  it('whatever names a patient without a permit, in whatever element or form, contained resources included, is not stored', async () => {
    // Prepare
    const tag = `NAMED-${Date.now()}`;
    const patientUrl = 'urn:uuid:aaaaaaaa-0000-4000-8000-000000000001';
    const mr = { type: MR_TYPE, value: `MRN-${tag}` };
    const body = bundle('collection', [
      { fullUrl: patientUrl, resource: patientResource(`${tag}-p`, `MRN-${tag}`, 'Unconsented') },
      {
        resource: {
          resourceType: 'GuidanceResponse',
          id: `${tag}-g`,
          moduleUri: 'urn:test:module',
          status: 'success',
          subject: { reference: patientUrl },
        },
      },
      {
        resource: {
          resourceType: 'Contract',
          id: `${tag}-c1`,
          subject: [{ reference: `Patient?identifier=urn:test:mrn|MRN-${tag}` }],
        },
      },
      { resource: { resourceType: 'Contract', id: `${tag}-c2`, subject: [{ identifier: mr }] } },
      {
        resource: {
          resourceType: 'Organization',
          id: `${tag}-o1`,
          contained: [patientResource('inner', `MRN-${tag}`, 'Contained')],
        },
      },
      {
        resource: {
          resourceType: 'Organization',
          id: `${tag}-o2`,
          contained: [
            {
              resourceType: 'Observation',
              id: 'inner',
              status: 'final',
              code: { text: 'x' },
              subject: { reference: `Patient/${tag}-p` },
            },
          ],
        },
      },
      {
        resource: {
          resourceType: 'Observation',
          id: `${tag}-obs`,
          status: 'final',
          code: { text: 'x' },
          focus: [{ reference: `Patient/${tag}-p` }],
        },
      },
    ]);

    // Act
    const { runId, execution } = await pipeline.ingestBody(body, FHIR_JSON);

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    const rejections = await listRejections(database.pool, runId);
    expect(rejections.map(({ recordIndex, reason }) => [recordIndex, reason])).toEqual([
      [0, 'consent'],
      [1, 'consent'],
      [2, 'consent'],
      [3, 'consent'],
      [4, 'unsupported-type'],
      [5, 'consent'],
      [6, 'orphan-reference'],
    ]);
    expect(await createdBy(database, 'fhir_resources', runId)).toBe(0);
  });

  it('a later Consent refusal withdraws a stored patient, and their later Observations are blocked', async () => {
    // Prepare
    const id = `withdraw-${Date.now()}`;
    await pipeline.ingestBody(
      ndjson([patientResource(id, `MRN-${id}`, 'Withdrawn'), consentFor(`Patient/${id}`)]),
      NDJSON,
    );
    const observation = {
      resourceType: 'Observation',
      id: `${id}-obs`,
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8302-2' }] },
      subject: { reference: `Patient/${id}` },
      valueQuantity: { value: 170, unit: 'cm' },
    };

    // Act
    const refusal = await pipeline.ingestBody(
      ndjson([
        consentFor(`Patient/${id}`, { provision: 'deny', dateTime: '2026-03-01T00:00:00Z' }),
      ]),
      NDJSON,
    );
    const late = await pipeline.ingestBody(ndjson([observation]), NDJSON);

    // Assess
    expect(await reasonsOf(database, refusal.runId)).toEqual({});
    expect((await findIngestRun(database.pool, refusal.runId))?.counts).toMatchObject({
      consentsRecorded: 1,
    });
    expect(await reasonsOf(database, late.runId)).toEqual({ consent: 1 });
    // Refused, the MRN answers as if it were not on file (no existence oracle).
    await expect(findPatientsByMrn(pipeline.deps, 'system:test', `MRN-${id}`)).resolves.toEqual([]);
  });

  it('Consents sent before their Patients (a Bulk Data Consent.ndjson) wait, and decide when the Patients arrive', async () => {
    // Prepare
    const suffix = `pending-${Date.now()}`;
    const patients = syntheaResources('Patient.10.ndjson')
      .slice(0, 4)
      .map(
        (patient, n): FhirJson => ({
          ...patient,
          id: `${patient.id}-${suffix}`,
          identifier: [{ type: MR_TYPE, value: `MRN-${suffix}-${n}` }],
        }),
      );
    const [permitted, refused, older, silent] = patients as [
      FhirJson,
      FhirJson,
      FhirJson,
      FhirJson,
    ];
    const consents = ndjson([
      consentFor(`Patient/${permitted.id}`),
      consentFor(`Patient/${refused.id}`, { provision: 'deny' }),
      consentFor(`Patient/${older.id}`, { dateTime: '2026-01-01T00:00:00Z' }),
      consentFor(`Patient/${older.id}`, { provision: 'deny', dateTime: '2025-01-01T00:00:00Z' }),
      consentFor(`Patient/${silent.id}`, { status: 'draft' }),
    ]);

    // Act
    const waiting = await pipeline.ingestBody(consents, NDJSON);
    const { rows: pendingBefore } = await database.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pending_consents WHERE run_id = $1',
      [waiting.runId],
    );
    const arrived = await pipeline.ingestBody(ndjson(patients), NDJSON);

    // Assess
    expect(await reasonsOf(database, waiting.runId)).toEqual({});
    expect((await findIngestRun(database.pool, waiting.runId))?.counts).toMatchObject({
      consentsPending: 3,
      consentsUndecided: 1,
      consentsPendingRecorded: 3,
    });
    expect(pendingBefore[0]?.n).toBe(3);
    const rejections = await listRejections(database.pool, arrived.runId);
    expect(
      rejections.map(({ recordIndex, reason, details }) => [recordIndex, reason, details]),
    ).toEqual([
      [1, 'consent', { requires: 'data_sharing', consent: 'refused' }],
      [3, 'consent', { requires: 'data_sharing', consent: 'absent' }],
    ]);
    for (const mrn of [`MRN-${suffix}-0`, `MRN-${suffix}-2`]) {
      const [view] = await findPatientsByMrn(pipeline.deps, 'system:test', mrn);
      expect(view?.consent).toMatchObject({ dataSharing: true });
    }
    const { rows: pendingAfter } = await database.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pending_consents WHERE run_id = $1',
      [waiting.runId],
    );
    // Applied decisions moved to `consents`; the refusal still waits for its patient.
    expect(pendingAfter[0]?.n).toBe(1);
  });

  it('lines that are not JSON, blank or not a resource are rejected one by one; the rest of the run loads', async () => {
    // Prepare
    const id = `lines-${Date.now()}`;
    const body = [
      JSON.stringify(patientResource(id, `MRN-${id}`, 'Lines')),
      '{"resourceType": "Patient", "name": [{"family": "Unterminated"',
      '',
      JSON.stringify({ resourceType: 'NotAType', name: 'Hidden Name' }),
      JSON.stringify({ resourceType: 'Patient', identifier: [{ value: 'no-type' }] }),
      JSON.stringify(consentFor(`Patient/${id}`)),
    ].join('\r\n');

    // Act
    const { runId, execution } = await pipeline.ingestBody(body, NDJSON);

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    const rejections = await listRejections(database.pool, runId);
    expect(rejections.map(({ recordIndex, reason }) => [recordIndex, reason])).toEqual([
      [1, 'schema'],
      [2, 'schema'],
      [3, 'schema'],
      [4, 'schema'],
    ]);
    expect(rejections[0]!.details).toEqual({
      problems: [expect.objectContaining({ keyword: 'json' })],
    });
    expect(rejections[3]!.details).toEqual({
      problems: [expect.objectContaining({ path: '/identifier', keyword: 'mrn' })],
    });
    expect(JSON.stringify(rejections)).not.toMatch(/Unterminated|Hidden Name|NotAType/);
    expect(await createdBy(database, 'patients', runId)).toBe(1);
  });

  it('the same NDJSON sent twice changes nothing the second time', async () => {
    // Prepare
    const patients = syntheaResources('Patient.10.ndjson');
    const body = ndjson([
      ...patients,
      ...patients.map((patient) => consentFor(`Patient/${patient.id}`)),
    ]);
    const first = await pipeline.ingestBody(body, NDJSON);

    // Act
    const second = await pipeline.ingestBody(body, NDJSON);

    // Assess
    // Some of these patients are also in Patient.100.ndjson, loaded by an earlier test.
    expect((await findIngestRun(database.pool, first.runId))?.counts).toMatchObject({
      loaded: 13,
    });
    expect((await findIngestRun(database.pool, second.runId))?.counts).toMatchObject({
      created: 0,
      updated: 0,
      unchanged: 13,
      consentsRecorded: 0,
    });
    const { rows } = await database.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_log WHERE run_id = $1 AND action IN ('CREATE', 'UPDATE')`,
      [second.runId],
    );
    expect(rows[0]?.n).toBe(0);
  });

  it('Observations naming their patient by MR identifier reach flat-format patients, with the same consent rules', async () => {
    // Prepare
    await pipeline.ingest([
      flatRecord({ mrn: 'MRN-FLAT-OBS-1' }),
      flatRecord({ mrn: 'MRN-FLAT-OBS-2', consent: { data_sharing: false } }),
    ]);
    const byMrn = (mrn: string, id: string): FhirJson => ({
      resourceType: 'Observation',
      id,
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      subject: { identifier: { type: MR_TYPE, value: mrn } },
      effectiveDateTime: '2026-01-02T03:04:05Z',
      valueQuantity: { value: 72, unit: '/min' },
    });

    // Act
    const { runId, execution } = await pipeline.ingestBody(
      ndjson([
        byMrn('MRN-FLAT-OBS-1', 'hr-1'),
        byMrn(' MRN-FLAT-OBS-1 ', 'hr-2'),
        byMrn('MRN-FLAT-OBS-2', 'hr-3'),
        byMrn('MRN-NEVER-SENT', 'hr-4'),
        patientResource('in-batch', 'MRN-FHIR-OBS-3', 'Inbatch'),
        consentFor('Patient/in-batch'),
        byMrn('MRN-FHIR-OBS-3', 'hr-5'),
      ]),
      NDJSON,
    );

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    expect((await findIngestRun(database.pool, runId))?.counts).toMatchObject({
      'Observation.created': 3,
      orphans: 2,
    });
    const rejections = await listRejections(database.pool, runId);
    // MRN-FLAT-OBS-2 refused sharing, so it was never stored: its Observation has no patient.
    expect(rejections.map(({ recordIndex, reason }) => [recordIndex, reason])).toEqual([
      [2, 'orphan-reference'],
      [3, 'orphan-reference'],
    ]);
    const [flat] = await findPatientsByMrn(pipeline.deps, 'system:test', 'MRN-FLAT-OBS-1');
    expect(await listPatientResources(database.pool, flat!.id, 'Observation')).toHaveLength(2);
    const [fhir] = await findPatientsByMrn(pipeline.deps, 'system:test', 'MRN-FHIR-OBS-3');
    expect(await listPatientResources(database.pool, fhir!.id, 'Observation')).toHaveLength(1);
    expect(JSON.stringify(rejections)).not.toMatch(/MRN-/);
  });
});
