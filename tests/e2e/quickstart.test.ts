import { describe, expect, it } from 'vitest';
import { call, ingest, query, token, waitForRun } from './api.ts';

/** The README's curl example, as a person would send it. */
const README_RECORD = {
  resourceType: 'Patient',
  mrn: 'MRN-001',
  name: 'Jane Doe',
  birthDate: '1990-01-15',
  gender: 'female',
  ssn: '123-45-6789',
  consent: { data_sharing: true, research: false },
};

describe('the README example over HTTP', () => {
  it('202 with the run, the run succeeds, and the patient reads back decrypted', async () => {
    // Prepare
    const writer = await token(['system/Patient.c']);
    const reader = await token(['user/Patient.r']);

    // Act
    const accepted = await ingest([README_RECORD], writer);
    const run = await waitForRun(accepted.json.runId, writer);
    const search = await call('GET', '/api/v1/patients?mrn=MRN-001', { token: reader });
    const byId = await call('GET', `/api/v1/patients/${search.json.data[0].id}`, { token: reader });

    // Assess
    expect(accepted.status).toBe(202);
    expect(accepted.json).toEqual({
      runId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      status: 'queued',
      outcome: 'accepted',
      links: { self: `/api/v1/runs/${accepted.json.runId}` },
    });
    expect(accepted.headers.get('location')).toBe(`/api/v1/runs/${accepted.json.runId}`);
    expect(run).toMatchObject({
      status: 'succeeded',
      errorCode: null,
      counts: { received: 1, consented: 1, loaded: 1 },
    });
    expect(Object.keys(run.stageTimings).sort()).toEqual([
      'consentCheck',
      'extract',
      'load',
      'transform',
      'validate',
    ]);
    expect(search.status).toBe(200);
    expect(byId.status).toBe(200);
    expect(byId.json).toEqual({
      id: search.json.data[0].id,
      mrn: 'MRN-001',
      name: 'Jane Doe',
      birthDate: '1990-01-15',
      gender: 'female',
      ssn: '123-45-6789',
      consent: { dataSharing: true, research: false, recordedAt: expect.any(String) },
    });
    const audit = await query<{ action: string; actor: string }>(
      "SELECT action, actor FROM audit_log WHERE resource_id = $1 AND resource_type = 'Patient' ORDER BY seq",
      [byId.json.id],
    );
    expect(audit.map((row) => row.action)).toEqual(expect.arrayContaining(['READ', 'READ']));
    expect(
      audit.filter((row) => row.action === 'READ').every((row) => row.actor === 'e2e-tester'),
    ).toBe(true);
  });

  it('a record without consent: the run succeeds with one rejection, nothing stored, nothing found', async () => {
    // Prepare
    const writer = await token(['system/Patient.c']);
    const reader = await token(['user/Patient.r']);
    const record = { ...README_RECORD, mrn: 'MRN-NO-CONSENT-1', consent: { data_sharing: false } };

    // Act
    const accepted = await ingest([record], writer);
    const run = await waitForRun(accepted.json.runId, writer);
    const rejections = await call('GET', `/api/v1/runs/${accepted.json.runId}/rejections`, {
      token: writer,
    });
    const search = await call('GET', '/api/v1/patients?mrn=MRN-NO-CONSENT-1', { token: reader });

    // Assess
    expect(run).toMatchObject({
      status: 'succeeded',
      counts: { received: 1, blocked: 1, rejected: 1, loaded: 0 },
    });
    expect(rejections.json.data).toEqual([
      {
        recordIndex: 0,
        resourceType: 'Patient',
        reason: 'consent',
        details: { requires: 'data_sharing', consent: 'refused' },
        stage: 'consentCheck',
      },
    ]);
    expect(search.status).toBe(200);
    expect(search.json).toEqual({ data: [] });
  });

  it('rejections name schema paths and never the values', async () => {
    // Prepare
    const writer = await token(['system/Patient.c']);

    // Act
    const accepted = await ingest(
      [
        { ...README_RECORD, mrn: 'MRN-BAD-DATE-1', birthDate: '1990-02-31' },
        { ...README_RECORD, mrn: 'MRN-OK-2' },
      ],
      writer,
    );
    await waitForRun(accepted.json.runId, writer);
    const rejections = await call('GET', `/api/v1/runs/${accepted.json.runId}/rejections`, {
      token: writer,
    });

    // Assess
    expect(rejections.json.data).toEqual([
      expect.objectContaining({
        recordIndex: 0,
        reason: 'schema',
        details: { problems: [expect.objectContaining({ path: '/birthDate', keyword: 'format' })] },
      }),
    ]);
    expect(rejections.text).not.toContain('1990-02-31');
    expect(rejections.text).not.toContain('MRN-BAD-DATE-1');
  });
});
