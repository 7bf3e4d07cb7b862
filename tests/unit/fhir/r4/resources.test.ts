import { describe, expect, it } from 'vitest';
import {
  CORRELATION_ID_EXTENSION_URL,
  type FhirJson,
  issueTypeForStatus,
  operationOutcome,
  patientResource,
  resourceView,
  searchsetBundle,
  storedJson,
} from '../../../../lib/fhir/r4/resources.ts';
import { syntheaLines } from '../../../helpers/fhir.ts';

const OUR_ID = '5d0c9a52-3b8e-4f17-9a61-2c4b7e8d1f30';
const OUR_PATIENT = '0b7e4c1a-5d2f-4e8a-9c3b-6f1d2e3a4b5c';
const UPDATED = new Date('2030-02-03T04:05:06.789Z');
const MR_CODING = {
  system: 'http://terminology.hl7.org/CodeSystem/v2-0203',
  code: 'MR',
  display: 'Medical record number',
};
const SSN_SYSTEM = 'http://hl7.org/fhir/sid/us-ssn';
const BASE = 'https://fhir.example.test/fhir/r4';

const fhirPatient = {
  resourceType: 'Patient',
  id: 'sender-patient-17',
  meta: {
    versionId: '7',
    lastUpdated: '2020-01-01T00:00:00Z',
    profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient'],
  },
  identifier: [
    { type: { coding: [{ system: MR_CODING.system, code: 'MR' }] }, value: 'MRN-FHIR-1' },
    { system: SSN_SYSTEM, value: '999-12-3456' },
  ],
  name: [{ use: 'official', family: 'Doe', given: ['Jane'] }],
  gender: 'female',
  birthDate: '1990-01-15',
  address: [{ line: ['1 Main St'], city: 'Springfield' }],
  extension: [{ url: 'http://example.test/ext', valueString: 'kept' }],
};

const flatRecord = {
  resourceType: 'Patient',
  mrn: 'MRN-001',
  name: 'Jane Doe',
  birthDate: '1990-01-15',
  gender: 'female',
  ssn: '123-45-6789',
  consent: { data_sharing: true, research: false },
};

const observations = syntheaLines('Observation.sample.ndjson').map((line) => line.resource);

function observationWith(element: string): FhirJson {
  const found = observations.find((observation) => observation[element] !== undefined);
  if (found === undefined) throw new Error(`no fixture Observation has ${element}`);
  return found;
}

describe('patientResource', () => {
  it('returns a stored FHIR Patient as sent, under our id and lastUpdated', () => {
    // Act
    const resource = patientResource(fhirPatient, { id: OUR_ID, lastUpdated: UPDATED });

    // Assess
    const { id: _theirs, meta: _theirMeta, ...elements } = fhirPatient;
    expect(resource).toStrictEqual({
      ...elements,
      id: OUR_ID,
      meta: { profile: fhirPatient.meta.profile, lastUpdated: '2030-02-03T04:05:06.789Z' },
    });
  });

  it('leaves no sender id, sender version or consent object in a FHIR Patient', () => {
    // Prepare
    const withConsent = { ...fhirPatient, consent: { data_sharing: true } };

    // Act
    const resource = patientResource(withConsent, { id: OUR_ID, lastUpdated: UPDATED });

    // Assess
    const text = JSON.stringify(resource);
    expect(text).not.toContain('sender-patient-17');
    expect(text).not.toContain('versionId');
    expect(resource).not.toHaveProperty('consent');
  });

  it('builds an R4 Patient from a flat record: MR and SSN identifiers, name text, no consent', () => {
    // Act
    const resource = patientResource(flatRecord, { id: OUR_ID, lastUpdated: UPDATED });

    // Assess
    expect(resource).toStrictEqual({
      resourceType: 'Patient',
      id: OUR_ID,
      meta: { lastUpdated: '2030-02-03T04:05:06.789Z' },
      identifier: [
        { type: { coding: [MR_CODING] }, value: 'MRN-001' },
        { system: SSN_SYSTEM, value: '123-45-6789' },
      ],
      name: [{ text: 'Jane Doe' }],
      gender: 'female',
      birthDate: '1990-01-15',
    });
    expect(JSON.stringify(resource)).not.toContain('data_sharing');
  });

  it.each([
    ['a flat record with only an MRN', { resourceType: 'Patient', mrn: 'MRN-002' }],
    [
      'decrypted columns of an old row, the rest null',
      {
        resourceType: 'Patient',
        mrn: 'MRN-002',
        name: null,
        birthDate: null,
        gender: null,
        ssn: null,
      },
    ],
  ])('builds %s into a Patient with the MR identifier alone', (_, source) => {
    // Act
    const resource = patientResource(source, { id: OUR_ID, lastUpdated: UPDATED });

    // Assess
    expect(resource).toStrictEqual({
      resourceType: 'Patient',
      id: OUR_ID,
      meta: { lastUpdated: '2030-02-03T04:05:06.789Z' },
      identifier: [{ type: { coding: [MR_CODING] }, value: 'MRN-002' }],
    });
  });
});

describe('searchsetBundle', () => {
  const resources = [
    { resourceType: 'Observation', id: 'a1' },
    { resourceType: 'Observation', id: 'b2' },
  ];

  it.each([
    ['a middle page', `${BASE}/Observation?patient=p&_count=2&_cursor=xyz`, 2],
    ['the last page', null, 1],
  ])('links %s to itself and to the next page only while one follows', (_, nextUrl, links) => {
    // Prepare
    const selfUrl = `${BASE}/Observation?patient=p&_count=2`;

    // Act
    const bundle = searchsetBundle({ base: BASE, total: 7, selfUrl, nextUrl, resources });

    // Assess
    expect(bundle['link']).toHaveLength(links);
    expect(bundle).toStrictEqual({
      resourceType: 'Bundle',
      type: 'searchset',
      total: 7,
      link: [
        { relation: 'self', url: selfUrl },
        ...(nextUrl === null ? [] : [{ relation: 'next', url: nextUrl }]),
      ],
      entry: [
        {
          fullUrl: `${BASE}/Observation/a1`,
          resource: resources[0],
          search: { mode: 'match' },
        },
        {
          fullUrl: `${BASE}/Observation/b2`,
          resource: resources[1],
          search: { mode: 'match' },
        },
      ],
    });
  });

  it('answers an empty search with total 0 and no entries', () => {
    // Act
    const bundle = searchsetBundle({
      base: BASE,
      total: 0,
      selfUrl: `${BASE}/Observation?patient=p`,
      nextUrl: null,
      resources: [],
    });

    // Assess
    expect(bundle).toMatchObject({ total: 0, entry: [] });
  });
});

describe('searchsetBundle with included resources', () => {
  it('lists the included resources after the matches, in mode include', () => {
    // Prepare
    const match = { resourceType: 'Encounter', id: 'e1' };
    const included = { resourceType: 'Practitioner', id: 'p1' };

    // Act
    const bundle = searchsetBundle({
      base: BASE,
      total: 1,
      selfUrl: `${BASE}/Patient/x/$everything`,
      nextUrl: null,
      resources: [match],
      included: [included],
    });

    // Assess
    expect(bundle['entry']).toStrictEqual([
      { fullUrl: `${BASE}/Encounter/e1`, resource: match, search: { mode: 'match' } },
      { fullUrl: `${BASE}/Practitioner/p1`, resource: included, search: { mode: 'include' } },
    ]);
  });
});

describe('resourceView', () => {
  it.each([
    ['valueQuantity', 'valueQuantity'],
    ['valueCodeableConcept', 'valueCodeableConcept'],
    ['components', 'component'],
  ])('keeps a fixture Observation with %s exactly as sent, under our id', (_, element) => {
    // Prepare
    const source = observationWith(element);

    // Act
    const resource = resourceView(source, { id: OUR_ID, lastUpdated: UPDATED });

    // Assess
    const { id: _theirs, meta: theirMeta, ...elements } = source;
    expect(resource).toStrictEqual({
      ...elements,
      id: OUR_ID,
      meta: { ...(theirMeta as object), lastUpdated: '2030-02-03T04:05:06.789Z' },
    });
    expect(resource[element]).toStrictEqual(source[element]);
    expect(resource['id']).not.toBe(source['id']);
  });

  it('keeps the resource as sent under our id, with our lastUpdated in the sender’s meta', () => {
    // Prepare
    const source = {
      resourceType: 'Condition',
      id: 'sender-condition-1',
      meta: { versionId: '7', lastUpdated: '2001-01-01T00:00:00Z', profile: ['http://x/p'] },
      subject: { reference: `Patient/${OUR_PATIENT}` },
      code: { coding: [{ system: 'http://snomed.info/sct', code: '44054006' }] },
      onsetDateTime: '2020-02-03',
    };

    // Act
    const resource = resourceView(source, {
      id: OUR_ID,
      lastUpdated: new Date('2030-02-03T04:05:06.789Z'),
    });

    // Assess
    expect(resource).toStrictEqual({
      resourceType: 'Condition',
      id: OUR_ID,
      meta: { profile: ['http://x/p'], lastUpdated: '2030-02-03T04:05:06.789Z' },
      subject: { reference: `Patient/${OUR_PATIENT}` },
      code: source.code,
      onsetDateTime: '2020-02-03',
    });
  });

  it('gives a resource sent without meta ours', () => {
    // Act
    const resource = resourceView(
      { resourceType: 'Practitioner', id: 'p-1', name: [{ family: 'Chalmers' }] },
      { id: OUR_ID, lastUpdated: new Date('2030-02-03T04:05:06.789Z') },
    );

    // Assess
    expect(resource).toStrictEqual({
      resourceType: 'Practitioner',
      id: OUR_ID,
      meta: { lastUpdated: '2030-02-03T04:05:06.789Z' },
      name: [{ family: 'Chalmers' }],
    });
  });
});

describe('operationOutcome', () => {
  it.each([
    [400, 'invalid'],
    [401, 'login'],
    [403, 'forbidden'],
    [404, 'not-found'],
    [409, 'conflict'],
    [413, 'too-costly'],
    [415, 'not-supported'],
    [422, 'processing'],
    [429, 'throttled'],
    [418, 'processing'],
    [500, 'exception'],
    [503, 'exception'],
  ])('maps HTTP %i to the issue type %s', (status, code) => {
    // Act
    const outcome = operationOutcome(status, { diagnostics: 'why' }, 'corr-0001');

    // Assess
    expect(issueTypeForStatus(status)).toBe(code);
    expect(outcome).toStrictEqual({
      resourceType: 'OperationOutcome',
      extension: [{ url: CORRELATION_ID_EXTENSION_URL, valueString: 'corr-0001' }],
      issue: [{ severity: 'error', code, diagnostics: 'why' }],
    });
  });

  it('adds one issue per failing location after the summary', () => {
    // Act
    const outcome = operationOutcome(
      400,
      {
        diagnostics: 'the search is invalid',
        problems: [
          { path: '/_count', message: 'must be a whole number from 1 to 1000' },
          { path: '', message: 'is not a supported search parameter' },
        ],
      },
      'corr-0002',
    );

    // Assess
    expect(outcome['issue']).toStrictEqual([
      { severity: 'error', code: 'invalid', diagnostics: 'the search is invalid' },
      {
        severity: 'error',
        code: 'invalid',
        diagnostics: '/_count: must be a whole number from 1 to 1000',
      },
      { severity: 'error', code: 'invalid', diagnostics: 'is not a supported search parameter' },
    ]);
  });
});

describe('storedJson', () => {
  it.each([
    ['an object', '{"resourceType":"Observation"}', { resourceType: 'Observation' }],
    ['an array', '[1,2]', undefined],
    ['a string', '"Observation"', undefined],
    ['not JSON', '{"resourceType":', undefined],
  ])('reads %s as %o', (_, text, expected) => {
    // Act
    const parsed = storedJson(text);

    // Assess
    expect(parsed).toStrictEqual(expected);
  });
});
