import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type ApiResponse, call, ingest, token, waitForRun } from './api.ts';
import { tokenAs } from './principals.ts';

const TAG = randomBytes(4).toString('hex');

/** What differs between any two answers whatever they say: when, and which request. */
const PER_REQUEST_HEADERS = new Set(['date', 'x-correlation-id', 'apigw-requestid']);

/** What a client can tell two answers apart by: status, headers and body, per-request ids aside. */
function observable(response: ApiResponse) {
  const correlationId = response.headers.get('x-correlation-id') ?? '';
  expect(correlationId).not.toBe('');
  const headers = [...response.headers.entries()].filter(
    ([name]) => !PER_REQUEST_HEADERS.has(name),
  );
  return {
    status: response.status,
    headers,
    body: response.text.replaceAll(correlationId, '<request id>'),
  };
}

async function patientIdOf(mrn: string, reader: string): Promise<string> {
  const found = await call('GET', `/api/v1/patients?mrn=${mrn}`, { token: reader });
  expect(found.json.data).toHaveLength(1);
  return found.json.data[0].id;
}

describe('SMART launch context and the MRN oracle over HTTP', () => {
  it('confines a patient/ token to its patient, answers the rest as not on file, and hides a refusal behind an MRN search', async () => {
    // Prepare
    const writer = await token(['system/Patient.c']);
    const reader = await token(['user/Patient.r']);
    const mrns = { own: `MRN-LC-OWN-${TAG}`, other: `MRN-LC-OTHER-${TAG}` };
    const accepted = await ingest(
      Object.values(mrns).map((mrn) => ({
        resourceType: 'Patient',
        mrn,
        name: 'Lana Context',
        consent: { data_sharing: true },
      })),
      writer,
    );
    await waitForRun(accepted.json.runId, writer);
    const own = await patientIdOf(mrns.own, reader);
    const other = await patientIdOf(mrns.other, reader);
    const clerk = await token(['user/Consent.u']);
    const revoked = await call('PUT', `/api/v1/patients/${other}/consent`, {
      token: clerk,
      body: JSON.stringify({ data_sharing: false, source: 'paper-form' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(revoked.status).toBe(200);
    const app = await tokenAs(`app-lc-${TAG}`, ['patient/Patient.r', 'patient/*.rs'], own);
    const contextless = await tokenAs(`app-lc-none-${TAG}`, ['patient/Patient.r']);
    const searcher = await tokenAs(`clinician-lc-${TAG}`, ['user/Patient.r']);
    const auditor = await token(['system/AuditEvent.r']);

    // Act
    const refusedByMrn = await call('GET', `/api/v1/patients?mrn=${mrns.other}`, {
      token: searcher,
    });
    const absentByMrn = await call('GET', `/api/v1/patients?mrn=MRN-LC-NOBODY-${TAG}`, {
      token: searcher,
    });
    const ownRead = await call('GET', `/api/v1/patients/${own}`, { token: app });
    const ownEverything = await call('GET', `/fhir/r4/Patient/${own}/$everything`, { token: app });
    const otherRead = await call('GET', `/api/v1/patients/${other}`, { token: app });
    const absentRead = await call('GET', `/api/v1/patients/${randomUUID()}`, { token: app });
    const otherFhir = await call('GET', `/fhir/r4/Patient/${other}`, { token: app });
    const absentFhir = await call('GET', `/fhir/r4/Patient/${randomUUID()}`, { token: app });
    const withoutContext = await call('GET', `/api/v1/patients/${own}`, { token: contextless });
    const ingestAsApp = await ingest([{ resourceType: 'Patient', mrn: `MRN-LC-X-${TAG}` }], app);
    const audit = await call('GET', `/api/v1/audit?patient=${other}`, { token: auditor });

    // Assess
    expect(observable(refusedByMrn)).toEqual(observable(absentByMrn));
    expect(refusedByMrn.status).toBe(200);
    expect(refusedByMrn.json).toEqual({ data: [] });
    expect(ownRead.status).toBe(200);
    expect(ownRead.json).toMatchObject({ id: own, mrn: mrns.own });
    expect(ownEverything.status).toBe(200);
    expect(ownEverything.json.entry[0].resource).toMatchObject({
      resourceType: 'Patient',
      id: own,
    });
    expect(observable(otherRead)).toEqual(observable(absentRead));
    expect(otherRead.status).toBe(404);
    expect(observable(otherFhir)).toEqual(observable(absentFhir));
    expect(otherFhir.status).toBe(404);
    expect(otherRead.text).not.toContain(mrns.other);
    expect(withoutContext.status).toBe(401);
    expect(withoutContext.headers.get('www-authenticate')).toContain('invalid_token');
    expect(ingestAsApp.status).toBe(403);
    expect(audit.status).toBe(200);
    const entries = audit.json.data as { actor: string; action: string; details: object }[];
    expect(entries.filter((entry) => entry.actor === `clinician-lc-${TAG}`)).toEqual([
      expect.objectContaining({
        action: 'DENY',
        details: expect.objectContaining({ reason: 'consent', via: 'mrn' }),
      }),
    ]);
    expect(entries.filter((entry) => entry.actor === `app-lc-${TAG}`)).toEqual([
      expect.objectContaining({
        action: 'DENY',
        details: expect.objectContaining({ reason: 'launch-context', launchPatient: own }),
      }),
      expect.objectContaining({
        action: 'DENY',
        details: expect.objectContaining({ reason: 'launch-context', launchPatient: own }),
      }),
    ]);
  });
});
