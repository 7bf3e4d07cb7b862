import { describe, expect, inject, it } from 'vitest';
import { capabilityStatement } from '../../lib/fhir/r4/capability.ts';
import { PATIENT_DATA_TYPES, STORED_TYPES } from '../../lib/fhir/r4/search.ts';
import { bundle, consentFor, type FhirJson, patientResource } from '../helpers/fhir.ts';
import { call, token, waitForRun } from './api.ts';

const NPI = 'http://hl7.org/fhir/sid/us-npi';

interface Entry {
  readonly resource: FhirJson & { readonly id: string };
  readonly search: { readonly mode: string };
}

interface CapabilityResource {
  readonly type: string;
  readonly interaction: readonly { readonly code: string }[];
  readonly operation?: readonly { readonly name: string }[];
}

describe('FHIR R4 reads of every type over HTTP', () => {
  it('serves metadata without a token, listing exactly the types and interactions its routes serve', async () => {
    // Act
    const response = await call('GET', '/fhir/r4/metadata');

    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    expect(response.json).toStrictEqual(capabilityStatement(`${inject('apiUrl')}/fhir/r4`));
    const resources = response.json.rest[0].resource as CapabilityResource[];
    const withCode = (code: string) =>
      resources
        .filter((entry) => entry.interaction.some((interaction) => interaction.code === code))
        .map((entry) => entry.type);
    expect(withCode('read')).toEqual([...STORED_TYPES]);
    expect(withCode('search-type')).toEqual([...PATIENT_DATA_TYPES]);
    expect(
      resources.flatMap((entry) => (entry.operation ?? []).map(({ name }) => [entry.type, name])),
    ).toEqual([['Patient', 'everything']]);
  });

  it('reads, searches and gathers a patient’s compartment as sent, under our ids, references rewritten', async () => {
    // Prepare
    const writer = await token(['system/Patient.c']);
    const reader = await token(['user/Patient.r', 'user/*.rs']);
    const patientOnly = await token(['user/Patient.r']);
    const tag = Date.now().toString(36);
    const mrn = `MRN-READS-${tag}`;
    const npi = `NPI-${tag}`;
    const body = bundle('transaction', [
      { fullUrl: `urn:uuid:pat-${tag}`, resource: patientResource(`pat-${tag}`, mrn, 'Reads') },
      { resource: consentFor(`Patient/pat-${tag}`) },
      {
        resource: {
          resourceType: 'Practitioner',
          id: `prac-${tag}`,
          identifier: [{ system: NPI, value: npi }],
          name: [{ family: 'Chalmers' }],
        },
      },
      {
        fullUrl: `urn:uuid:enc-${tag}`,
        resource: {
          resourceType: 'Encounter',
          id: `enc-${tag}`,
          status: 'finished',
          class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
          subject: { reference: `urn:uuid:pat-${tag}` },
          participant: [{ individual: { reference: `Practitioner?identifier=${NPI}|${npi}` } }],
          period: { start: '2024-02-10T09:00:00Z' },
        },
      },
      {
        resource: {
          resourceType: 'Condition',
          id: `cond-${tag}`,
          code: { coding: [{ system: 'http://snomed.info/sct', code: '44054006' }] },
          subject: { reference: `Patient/pat-${tag}` },
          encounter: { reference: `urn:uuid:enc-${tag}` },
          onsetDateTime: '2023-05-01',
        },
      },
    ]);

    // Act
    const accepted = await call('POST', '/api/v1/ingest', {
      token: writer,
      body,
      headers: { 'content-type': 'application/fhir+json' },
    });
    const run = await waitForRun(accepted.json.runId, writer);
    const found = await call('GET', `/api/v1/patients?mrn=${mrn}`, { token: reader });
    const patientId: string = found.json.data[0].id;
    const conditions = await call(
      'GET',
      `/fhir/r4/Condition?patient=${patientId}&code=${encodeURIComponent('http://snomed.info/sct|44054006')}&date=2023`,
      { token: reader },
    );
    const condition = (conditions.json.entry as Entry[])[0]?.resource;
    if (condition === undefined) throw new Error('the Condition search found nothing');
    const encounterReference = String((condition['encounter'] as FhirJson)['reference']);
    const encounter = await call('GET', `/fhir/r4/${encounterReference}`, { token: reader });
    const practitionerReference = String(
      (encounter.json.participant[0].individual as FhirJson)['reference'],
    );
    const practitioner = await call('GET', `/fhir/r4/${practitionerReference}`, {
      token: reader,
    });
    const everything = await call('GET', `/fhir/r4/Patient/${patientId}/$everything`, {
      token: reader,
    });
    const unknownType = await call('GET', `/fhir/r4/Nope/${patientId}`, { token: reader });
    const notCovered = await call('GET', `/fhir/r4/${encounterReference}`, {
      token: patientOnly,
    });
    const noSearch = await call('GET', `/fhir/r4/Practitioner?patient=${patientId}`, {
      token: reader,
    });

    // Assess
    expect(run).toMatchObject({ status: 'succeeded' });
    expect(conditions.status).toBe(200);
    expect(conditions.json).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 1 });
    expect(condition).toMatchObject({
      resourceType: 'Condition',
      subject: { reference: `Patient/${patientId}` },
      onsetDateTime: '2023-05-01',
    });
    expect(encounterReference).toMatch(/^Encounter\/[0-9a-f-]{36}$/);
    expect(encounter.status).toBe(200);
    expect(encounter.json).toMatchObject({
      resourceType: 'Encounter',
      id: encounterReference.split('/')[1],
      subject: { reference: `Patient/${patientId}` },
      meta: { lastUpdated: expect.any(String) },
    });
    expect(practitionerReference).toMatch(/^Practitioner\/[0-9a-f-]{36}$/);
    expect(practitioner.status).toBe(200);
    expect(practitioner.json).toMatchObject({
      resourceType: 'Practitioner',
      identifier: [{ system: NPI, value: npi }],
    });
    expect(everything.status).toBe(200);
    expect(
      (everything.json.entry as Entry[]).map((entry) => [
        entry.search.mode,
        `${entry.resource.resourceType}/${entry.resource.id}`,
      ]),
    ).toEqual([
      ['match', `Patient/${patientId}`],
      ['match', `Condition/${condition?.id}`],
      ['match', encounterReference],
      ['include', practitionerReference],
    ]);
    for (const [response, status] of [
      [unknownType, 404],
      [notCovered, 403],
      [noSearch, 404],
    ] as const) {
      expect(response.status).toBe(status);
      expect(response.json.resourceType).toBe('OperationOutcome');
    }
  });
});
