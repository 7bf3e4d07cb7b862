import { describe, expect, inject, it } from 'vitest';
import {
  bundle,
  consentFor,
  type FhirJson,
  ndjson,
  patientResource,
  syntheaResources,
  syntheaText,
} from '../helpers/fhir.ts';
import { call, query, token, waitForRun } from './api.ts';

const NDJSON = 'application/fhir+ndjson';
const FHIR_JSON = 'application/fhir+json';
/** The patient Observation.sample.ndjson refers to; in neither Patient file. */
const SAMPLE_SUBJECT_ID = '0bee1bc6-1a91-bcd5-7bc0-02fadc5217d6';
const SAMPLE_SUBJECT_MRN = 'MRN-E2E-SAMPLE-SUBJECT';

async function post(body: string, contentType: string, bearer: string) {
  return call('POST', '/api/v1/ingest', {
    token: bearer,
    body,
    headers: { 'content-type': contentType },
  });
}

async function reasons(runId: string, bearer: string): Promise<string[]> {
  const response = await call('GET', `/api/v1/runs/${runId}/rejections`, { token: bearer });
  return (response.json.data as { reason: string }[]).map(({ reason }) => reason);
}

describe('FHIR R4 over HTTP', () => {
  it('Observations alone are orphans; after their consented patient, they load and read back exactly through /fhir/r4', async () => {
    // Prepare
    const writer = await token(['system/Patient.c']);
    const reader = await token(['user/Patient.r', 'user/Observation.s']);
    const observations = syntheaResources('Observation.sample.ndjson');

    // Act
    const orphans = await post(syntheaText('Observation.sample.ndjson'), NDJSON, writer);
    const orphanRun = await waitForRun(orphans.json.runId, writer);
    const patient = await post(
      ndjson([
        patientResource(SAMPLE_SUBJECT_ID, SAMPLE_SUBJECT_MRN, 'Samplesubject'),
        consentFor(`Patient/${SAMPLE_SUBJECT_ID}`),
      ]),
      NDJSON,
      writer,
    );
    const patientRun = await waitForRun(patient.json.runId, writer);
    const stored = await post(syntheaText('Observation.sample.ndjson'), NDJSON, writer);
    const storedRun = await waitForRun(stored.json.runId, writer);
    const search = await call('GET', `/api/v1/patients?mrn=${SAMPLE_SUBJECT_MRN}`, {
      token: reader,
    });
    const patientId: string = search.json.data[0].id;
    const fhirPatient = await call('GET', `/fhir/r4/Patient/${patientId}`, { token: reader });
    const searchset = await call('GET', `/fhir/r4/Observation?patient=${patientId}`, {
      token: reader,
    });

    // Assess
    expect([orphans.status, patient.status, stored.status]).toEqual([202, 202, 202]);
    expect(orphanRun.status).toBe('succeeded');
    expect(await reasons(orphans.json.runId, writer)).toEqual(
      Array.from({ length: 9 }, () => 'orphan-reference'),
    );
    expect(patientRun).toMatchObject({ status: 'succeeded', counts: { loaded: 1 } });
    expect(storedRun).toMatchObject({ status: 'succeeded', counts: { resourcesLoaded: 9 } });
    expect(fhirPatient.status).toBe(200);
    expect(fhirPatient.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    expect(fhirPatient.json).toMatchObject({
      resourceType: 'Patient',
      id: patientId,
      identifier: [expect.objectContaining({ value: SAMPLE_SUBJECT_MRN })],
    });
    expect(searchset.status).toBe(200);
    expect(searchset.json).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 9 });
    const returned = (searchset.json.entry as { resource: FhirJson }[]).map(
      ({ resource }) => resource,
    );
    expect(returned).toHaveLength(9);
    for (const resource of returned) {
      expect(resource['subject']).toEqual({ reference: `Patient/${patientId}` });
    }
    // The values come back exactly as sent: the same numbers, units, codes and components.
    const valuesOf = (resource: FhirJson) =>
      Object.fromEntries(
        Object.entries(resource).filter(([element]) => /^(value[A-Z]|component$)/.test(element)),
      );
    const sent = observations.map(valuesOf).map((value) => JSON.stringify(value));
    expect(
      returned
        .map(valuesOf)
        .map((value) => JSON.stringify(value))
        .sort(),
    ).toEqual(sent.sort());
  });

  it('a transaction Bundle linked by urn:uuid loads in one run; a patient refused by their Consent is not readable', async () => {
    // Prepare
    const writer = await token(['system/Patient.c']);
    const reader = await token(['user/Patient.r']);
    const tag = Date.now().toString(36);
    const body = bundle('transaction', [
      {
        fullUrl: `urn:uuid:e2e-${tag}-1`,
        resource: patientResource(undefined, `MRN-B-${tag}-1`, 'One'),
      },
      {
        fullUrl: `urn:uuid:e2e-${tag}-2`,
        resource: patientResource(undefined, `MRN-B-${tag}-2`, 'Two'),
      },
      { resource: consentFor(`urn:uuid:e2e-${tag}-1`) },
      { resource: consentFor(`urn:uuid:e2e-${tag}-2`, { provision: 'deny' }) },
    ]);

    // Act
    const accepted = await post(body, FHIR_JSON, writer);
    const run = await waitForRun(accepted.json.runId, writer);
    const one = await call('GET', `/api/v1/patients?mrn=MRN-B-${tag}-1`, { token: reader });
    const two = await call('GET', `/api/v1/patients?mrn=MRN-B-${tag}-2`, { token: reader });

    // Assess
    expect(accepted.status).toBe(202);
    expect(run).toMatchObject({ status: 'succeeded', counts: { received: 4, loaded: 1 } });
    expect(await reasons(accepted.json.runId, writer)).toEqual(['consent']);
    expect(one.json.data).toHaveLength(1);
    expect(two.json.data).toEqual([]);
  });

  it.each([
    ['a media type the API does not take', 'application/x-ndjson', '{}\n', 415],
    [
      'a single resource as FHIR JSON',
      FHIR_JSON,
      JSON.stringify(patientResource('x', 'M', 'X')),
      400,
    ],
    [
      'a searchset Bundle',
      FHIR_JSON,
      JSON.stringify({ resourceType: 'Bundle', type: 'searchset', entry: [{}] }),
      400,
    ],
    ['NDJSON of blank lines only', NDJSON, '\n\n', 400],
  ])('%s → %i problem+json, and no run', async (_label, contentType, body, status) => {
    // Prepare
    const writer = await token(['system/Patient.c']);
    const [before] = await query<{ n: number }>('SELECT count(*)::int AS n FROM ingest_runs');

    // Act
    const response = await post(body, contentType, writer);

    // Assess
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const [after] = await query<{ n: number }>('SELECT count(*)::int AS n FROM ingest_runs');
    expect(after?.n).toBe(before?.n);
  });

  it('NDJSON with more lines than MAX_RECORDS_PER_BATCH → 413', async () => {
    // Prepare
    const writer = await token(['system/Patient.c']);
    const limit = inject('maxRecordsPerBatch');
    const body = ndjson(Array.from({ length: limit + 1 }, () => ({ resourceType: 'Basic' })));

    // Act
    const response = await post(body, NDJSON, writer);

    // Assess
    expect(response.status).toBe(413);
    expect(response.json.detail).toBe(`a batch holds at most ${limit} records`);
  });
});
