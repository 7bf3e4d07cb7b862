import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type ApiResponse, call, ingest, ingestBody, query, token, waitForRun } from './api.ts';
import { tokenAs } from './principals.ts';

const TAG = randomBytes(4).toString('hex');
const PROBLEM_JSON = /^application\/problem\+json/;

/** Ingests one consented patient and returns its id, as a reader finds it by MRN. */
async function consentedPatient(mrn: string): Promise<string> {
  const writer = await token(['system/Patient.c']);
  const accepted = await ingest(
    [{ resourceType: 'Patient', mrn, name: 'Connie Sent', consent: { data_sharing: true } }],
    writer,
  );
  await waitForRun(accepted.json.runId, writer);
  const found = await call('GET', `/api/v1/patients?mrn=${mrn}`, {
    token: await token(['user/Patient.r']),
  });
  return found.json.data[0].id;
}

function putConsent(patientId: string, bearer: string, body: unknown): Promise<ApiResponse> {
  return call('PUT', `/api/v1/patients/${patientId}/consent`, {
    token: bearer,
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
}

async function runsWithKey(key: string): Promise<number> {
  const [row] = await query<{ count: number }>(
    'SELECT count(*)::int AS count FROM ingest_runs WHERE idempotency_key = $1',
    [key],
  );
  return row?.count ?? 0;
}

describe('consent changes over HTTP', () => {
  it('a revocation denies the very next read, and the audit log shows the change and the denial by the caller', async () => {
    // Prepare
    const patientId = await consentedPatient(`MRN-REVOKE-${TAG}`);
    const subject = `clerk-revoke-${TAG}`;
    const clerk = await tokenAs(subject, ['user/Consent.u', 'user/Patient.r']);
    const auditor = await token(['system/AuditEvent.r']);

    // Act
    const revoked = await putConsent(patientId, clerk, {
      data_sharing: false,
      source: 'paper-form',
    });
    const read = await call('GET', `/api/v1/patients/${patientId}`, { token: clerk });
    const audit = await call('GET', `/api/v1/audit?patient=${patientId}`, { token: auditor });

    // Assess
    expect(revoked.status).toBe(200);
    expect(revoked.json).toMatchObject({
      patientId,
      dataSharing: false,
      source: 'paper-form',
      recordedBy: subject,
    });
    expect(read.status).toBe(403);
    expect(read.headers.get('content-type')).toMatch(PROBLEM_JSON);
    expect(read.json.type).toBe('urn:problem:healthcare-etl:forbidden');
    expect(read.text).not.toContain('Connie Sent');
    expect(audit.status).toBe(200);
    const byCaller = audit.json.data.filter((entry: { actor: string }) => entry.actor === subject);
    expect(byCaller).toEqual([
      expect.objectContaining({
        action: 'UPDATE',
        resourceType: 'Consent',
        resourceId: patientId,
        outcome: 'success',
        details: expect.objectContaining({ dataSharing: false, source: 'paper-form' }),
      }),
      expect.objectContaining({
        action: 'DENY',
        resourceType: 'Patient',
        resourceId: patientId,
        outcome: 'denied',
      }),
    ]);
    expect(byCaller[0].seq).toBeLessThan(byCaller[1].seq);
  });

  it('a grant after a revocation lets the next read through', async () => {
    // Prepare
    const patientId = await consentedPatient(`MRN-REGRANT-${TAG}`);
    const clerk = await token(['user/Consent.u', 'user/Patient.r']);
    await putConsent(patientId, clerk, { data_sharing: false });
    const denied = await call('GET', `/api/v1/patients/${patientId}`, { token: clerk });

    // Act
    const granted = await putConsent(patientId, clerk, { data_sharing: true, research: true });
    const read = await call('GET', `/api/v1/patients/${patientId}`, { token: clerk });

    // Assess
    expect(denied.status).toBe(403);
    expect(granted.status).toBe(200);
    expect(granted.json).toMatchObject({ dataSharing: true, research: true });
    expect(read.status).toBe(200);
    expect(read.json).toMatchObject({
      id: patientId,
      name: 'Connie Sent',
      consent: { dataSharing: true, research: true },
    });
  });

  it('a grant older than the one on record → 409, and the one on record stands', async () => {
    // Prepare
    const patientId = await consentedPatient(`MRN-STALE-${TAG}`);
    const clerk = await token(['user/Consent.u', 'user/Patient.r']);
    const [before] = await query<{ count: number }>(
      'SELECT count(*)::int AS count FROM consent_history WHERE patient_id = $1',
      [patientId],
    );

    // Act
    // A grant (a refusal would stand: the feed's grant on record has no date of its own).
    const stale = await putConsent(patientId, clerk, {
      data_sharing: true,
      research: true,
      recordedAt: '2001-01-01T00:00:00Z',
    });
    const read = await call('GET', `/api/v1/patients/${patientId}`, { token: clerk });
    const [after] = await query<{ count: number }>(
      'SELECT count(*)::int AS count FROM consent_history WHERE patient_id = $1',
      [patientId],
    );

    // Assess
    expect(stale.status).toBe(409);
    expect(stale.headers.get('content-type')).toMatch(PROBLEM_JSON);
    expect(stale.json).toMatchObject({ type: 'urn:problem:healthcare-etl:conflict', status: 409 });
    expect(read.status).toBe(200);
    expect(after).toEqual(before);
  });

  it('a token without user/Consent.u cannot change consent (403) and changes nothing', async () => {
    // Prepare
    const patientId = await consentedPatient(`MRN-NOSCOPE-${TAG}`);
    const bearer = await token(['user/Patient.r', 'system/Patient.c', 'system/AuditEvent.r']);
    const history = () =>
      query<{ count: number }>(
        'SELECT count(*)::int AS count FROM consent_history WHERE patient_id = $1',
        [patientId],
      );
    const before = await history();

    // Act
    const response = await putConsent(patientId, bearer, { data_sharing: false });
    const read = await call('GET', `/api/v1/patients/${patientId}`, { token: bearer });
    const after = await history();

    // Assess
    expect(response.status).toBe(403);
    expect(response.headers.get('content-type')).toMatch(PROBLEM_JSON);
    expect(response.json.type).toBe('urn:problem:healthcare-etl:forbidden');
    expect(response.json.detail).toContain('user/Consent.u');
    expect(read.status).toBe(200);
    expect(after).toEqual(before);
  });
});

describe('Idempotency-Key on POST /api/v1/ingest', () => {
  const record = (mrn: string) => ({
    resourceType: 'Patient',
    mrn,
    name: 'Ida Empotent',
    consent: { data_sharing: true },
  });

  it('the same key and body twice → the same run, and only one new ingest_runs row', async () => {
    // Prepare
    const writer = await token(['system/Patient.c']);
    const key = `idem-same-${TAG}`;
    const body = ingestBody([record(`MRN-IDEM-1-${TAG}`)]);
    const send = () =>
      call('POST', '/api/v1/ingest', {
        token: writer,
        body,
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
      });
    const [before] = await query<{ count: number }>(
      'SELECT count(*)::int AS count FROM ingest_runs',
    );

    // Act
    const first = await send();
    const second = await send();
    await waitForRun(first.json.runId, writer);
    const third = await send();
    const [after] = await query<{ count: number }>(
      'SELECT count(*)::int AS count FROM ingest_runs',
    );

    // Assess
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.json.runId).toBe(first.json.runId);
    expect(third.json).toMatchObject({ runId: first.json.runId, status: 'succeeded' });
    expect(after?.count).toBe((before?.count ?? 0) + 1);
    expect(await runsWithKey(key)).toBe(1);
  });

  it('the same key with a different body → 422 problem+json, and no new run', async () => {
    // Prepare
    const writer = await token(['system/Patient.c']);
    const key = `idem-diff-${TAG}`;
    const send = (mrn: string) =>
      call('POST', '/api/v1/ingest', {
        token: writer,
        body: ingestBody([record(mrn)]),
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
      });
    const first = await send(`MRN-IDEM-2-${TAG}`);
    await waitForRun(first.json.runId, writer);

    // Act
    const reused = await send(`MRN-IDEM-3-${TAG}`);

    // Assess
    expect(first.status).toBe(202);
    expect(reused.status).toBe(422);
    expect(reused.headers.get('content-type')).toMatch(PROBLEM_JSON);
    expect(reused.json).toMatchObject({
      type: 'urn:problem:healthcare-etl:idempotency-key-reused',
      title: expect.any(String),
      status: 422,
    });
    expect(reused.text).not.toContain(`MRN-IDEM-3-${TAG}`);
    expect(await runsWithKey(key)).toBe(1);
  });
});

describe('the audit chain', () => {
  it('GET /api/v1/audit/verify reports the chain intact', async () => {
    // Prepare
    const auditor = await token(['system/AuditEvent.r']);
    const [{ rows } = { rows: 0 }] = await query<{ rows: number }>(
      'SELECT count(*)::int AS rows FROM audit_log',
    );

    // Act
    const response = await call('GET', '/api/v1/audit/verify', { token: auditor });

    // Assess
    expect(response.status).toBe(200);
    expect(response.json).toEqual({
      valid: true,
      rowsChecked: expect.any(Number),
      walkedAfter: 0,
      firstBreak: null,
      problems: [],
      sealedThrough: expect.any(Number),
      unsealedLegacyRows: 0,
      checkpoint: expect.toBeOneOf([null, { seq: expect.any(Number), at: expect.any(String) }]),
      checkedAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
    });
    expect(response.json.rowsChecked).toBeGreaterThanOrEqual(rows);
  });
});
