import { describe, expect, it } from 'vitest';
import {
  consentFromFhir,
  patientFromFhir,
  patientReferenceKeys,
  referenceKey,
} from '../../../../lib/fhir/r4/mapping.ts';
import type { FhirAnyResource, FhirConsent, FhirPatient } from '../../../../lib/fhir/r4/model.ts';
import { validateR4Resource } from '../../../../lib/fhir/r4/validation.ts';
import type { SchemaProblem } from '../../../../lib/fhir/validation.ts';
import { syntheaLines } from '../../../helpers/fhir.ts';

const MR_TYPE = {
  coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }],
};
const SSN_SYSTEM = 'http://hl7.org/fhir/sid/us-ssn';

const patient = {
  resourceType: 'Patient',
  id: 'pat-1',
  identifier: [
    { system: 'http://hospital.example', type: MR_TYPE, value: 'MRN-001' },
    { system: SSN_SYSTEM, value: '999-12-3456' },
  ],
  name: [
    { use: 'maiden', family: 'Roe', given: ['Jane'] },
    { use: 'official', family: 'Doe', given: ['Jane', 'Q'], prefix: ['Ms.'] },
  ],
  telecom: [{ system: 'phone', value: '555-0100', use: 'home' }],
  gender: 'female',
  birthDate: '1990-01-15',
  address: [{ line: ['1 Main St'], city: 'Springfield', postalCode: '01101' }],
} satisfies FhirPatient;

const PRIVACY_SCOPE = {
  coding: [
    { system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' },
  ],
};
const RESEARCH_PURPOSE = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason',
  code: 'HRESCH',
};

const consent = {
  resourceType: 'Consent',
  id: 'con-1',
  status: 'active',
  scope: PRIVACY_SCOPE,
  category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
  patient: { reference: 'Patient/pat-1' },
  dateTime: '2024-03-01T09:30:00+01:00',
  provision: { type: 'permit' },
} satisfies FhirConsent;

function problem(path: string, keyword: string, message: string): SchemaProblem {
  return { path, keyword, message };
}

/** Mapping takes what validation passed, as the pipeline does. */
function validated(resource: unknown, resourceType: string): FhirAnyResource {
  const result = validateR4Resource(resource);
  if (!result.ok) throw new Error(`fixture is invalid: ${JSON.stringify(result.problems)}`);
  if (result.value.resourceType !== resourceType)
    throw new Error(`fixture is not a ${resourceType}`);
  return result.value;
}

function validatedPatient(resource: unknown): FhirPatient {
  return validated(resource, 'Patient') as unknown as FhirPatient;
}

function validatedConsent(resource: unknown): FhirConsent {
  return validated(resource, 'Consent') as unknown as FhirConsent;
}

interface RawIdentifier {
  readonly system?: string;
  readonly value?: string;
  readonly type?: { readonly coding?: ReadonlyArray<{ readonly code?: string }> };
}

function rawIdentifiers(resource: Record<string, unknown>): RawIdentifier[] {
  return (resource['identifier'] ?? []) as RawIdentifier[];
}

describe('patientFromFhir on Synthea patients', () => {
  it.each([...syntheaLines('Patient.10.ndjson'), ...syntheaLines('Patient.100.ndjson')])(
    'maps $file line $line to its raw MRN and SSN',
    ({ resource }) => {
      // Prepare
      const identifiers = rawIdentifiers(resource);
      const rawMrn = identifiers.find((i) => i.type?.coding?.some((c) => c.code === 'MR'))?.value;
      const rawSsn = identifiers.find((i) => i.system === SSN_SYSTEM)?.value;

      // Act
      const result = patientFromFhir(validatedPatient(resource));

      // Assess
      expect(rawMrn).toEqual(expect.any(String));
      expect(rawSsn).toMatch(/^999-\d{2}-\d{4}$/);
      expect(result).toMatchObject({
        ok: true,
        value: { resourceType: 'Patient', mrn: rawMrn, ssn: rawSsn, sourceId: resource['id'] },
      });
      expect(result.ok && result.value.source).toBe(resource);
    },
  );
});

describe('patientFromFhir', () => {
  it('maps every element and keeps the whole resource', () => {
    // Act
    const result = patientFromFhir(validatedPatient(patient));

    // Assess
    expect(result).toEqual({
      ok: true,
      value: {
        resourceType: 'Patient',
        mrn: 'MRN-001',
        ssn: '999-12-3456',
        name: 'Jane Q Doe',
        names: patient.name,
        birthDate: '1990-01-15',
        gender: 'female',
        address: patient.address,
        telecom: patient.telecom,
        sourceId: 'pat-1',
        source: patient,
      },
    });
  });

  it('maps a minimal patient to the MRN, the names and the source only', () => {
    // Prepare
    const minimal = { resourceType: 'Patient', identifier: [{ type: MR_TYPE, value: 'MRN-9' }] };

    // Act
    const result = patientFromFhir(validatedPatient(minimal));

    // Assess
    expect(result).toEqual({
      ok: true,
      value: { resourceType: 'Patient', mrn: 'MRN-9', names: [], source: minimal },
    });
  });

  it.each([
    {
      label: 'the official name',
      names: [
        { use: 'nickname', given: ['JJ'] },
        { use: 'official', family: 'Doe' },
      ],
      display: 'Doe',
    },
    {
      label: 'the usual name when none is official',
      names: [
        { use: 'maiden', family: 'Roe' },
        { use: 'usual', given: ['Jane'], family: 'Doe' },
      ],
      display: 'Jane Doe',
    },
    {
      label: 'an unlabelled name when none is official',
      names: [
        { use: 'old', family: 'Roe' },
        { given: ['Jane'], family: 'Doe' },
      ],
      display: 'Jane Doe',
    },
    {
      label: 'the text of an official name without parts',
      names: [{ use: 'official', text: 'Jane Doe' }],
      display: 'Jane Doe',
    },
    {
      label: 'no display for maiden and old names only',
      names: [
        { use: 'maiden', family: 'Roe' },
        { use: 'old', family: 'Poe' },
      ],
      display: undefined,
    },
  ])('shows $label', ({ names, display }) => {
    // Prepare
    const resource = { ...patient, name: names };

    // Act
    const result = patientFromFhir(validatedPatient(resource));

    // Assess
    expect(result.ok && result.value.name).toBe(display);
    expect(result.ok && result.value.names).toEqual(names);
  });

  it('takes the first MR identifier that has a value', () => {
    // Prepare
    const resource = {
      ...patient,
      identifier: [
        { type: MR_TYPE },
        { type: MR_TYPE, value: 'MRN-2' },
        { type: MR_TYPE, value: 'MRN-3' },
      ],
    };

    // Act
    const result = patientFromFhir(validatedPatient(resource));

    // Assess
    expect(result.ok && result.value.mrn).toBe('MRN-2');
    expect(result.ok && 'ssn' in result.value).toBe(false);
  });

  it.each([
    { label: 'no identifiers', identifier: undefined },
    {
      label: 'only an SSN and a driver licence',
      identifier: [
        { system: SSN_SYSTEM, value: '999-12-3456' },
        { type: { coding: [{ code: 'DL' }] }, value: 'S99940903' },
      ],
    },
    {
      label: 'an MR code from another code system',
      identifier: [
        { type: { coding: [{ system: 'http://example.org/types', code: 'MR' }] }, value: 'X-77' },
      ],
    },
    { label: 'an MR identifier without a value', identifier: [{ type: MR_TYPE }] },
  ])('reports a patient with $label as having no MRN, without values', ({ identifier }) => {
    // Prepare
    const { identifier: _omitted, ...withoutIdentifiers } = patient;
    const resource = identifier === undefined ? withoutIdentifiers : { ...patient, identifier };

    // Act
    const result = patientFromFhir(validatedPatient(resource));

    // Assess
    expect(result).toEqual({
      ok: false,
      problems: [problem('/identifier', 'mrn', 'has no MR identifier')],
    });
    expect(JSON.stringify(result)).not.toMatch(/999-12|S999|X-77|Doe/);
  });
});

describe('consentFromFhir', () => {
  const { provision: _provision, ...withoutProvision } = consent;

  it.each([
    {
      label: 'an active permit grants data sharing',
      changes: {},
      dataSharing: true,
      research: false,
    },
    {
      label: 'an active deny does not',
      changes: { provision: { type: 'deny' } },
      dataSharing: false,
      research: false,
    },
    {
      label: 'an inactive permit does not',
      changes: { status: 'inactive' },
      dataSharing: false,
      research: false,
    },
    {
      label: 'a proposed permit does not',
      changes: { status: 'proposed' },
      dataSharing: false,
      research: false,
    },
    {
      label: 'an active consent without a provision does not',
      changes: {},
      base: withoutProvision,
      dataSharing: false,
      research: false,
    },
    {
      label: 'a nested research permit grants research too',
      changes: {
        provision: { type: 'permit', provision: [{ type: 'permit', purpose: [RESEARCH_PURPOSE] }] },
      },
      dataSharing: true,
      research: true,
    },
    {
      label: 'a nested research permit under a base deny grants research only',
      changes: {
        provision: { type: 'deny', provision: [{ type: 'permit', purpose: [RESEARCH_PURPOSE] }] },
      },
      dataSharing: false,
      research: true,
    },
    {
      label: 'a nested research deny grants no research',
      changes: {
        provision: { type: 'permit', provision: [{ type: 'deny', purpose: [RESEARCH_PURPOSE] }] },
      },
      dataSharing: true,
      research: false,
    },
    {
      label: 'a nested research permit of an inactive consent grants nothing',
      changes: {
        status: 'inactive',
        provision: { type: 'permit', provision: [{ type: 'permit', purpose: [RESEARCH_PURPOSE] }] },
      },
      dataSharing: false,
      research: false,
    },
  ])('maps $label', ({ changes, base, dataSharing, research }) => {
    // Prepare
    const resource = { ...(base ?? consent), ...changes };

    // Act
    const result = consentFromFhir(validatedConsent(resource));

    // Assess
    expect(result).toEqual({
      ok: true,
      value: {
        resourceType: 'Consent',
        sourceId: 'con-1',
        patientReference: 'Patient/pat-1',
        dataSharing,
        research,
        status: resource.status,
        dateTime: '2024-03-01T08:30:00.000Z',
      },
    });
  });

  const { patient: _patient, ...withoutPatient } = consent;
  const { status: _status, ...withoutStatus } = consent;

  it.each([
    {
      label: 'no patient',
      resource: withoutPatient,
      problems: [problem('', 'required', 'is required: patient')],
    },
    {
      label: 'a patient without a reference',
      resource: { ...consent, patient: { display: 'Jane Doe' } },
      problems: [problem('/patient', 'reference', 'has no reference')],
    },
    {
      label: 'a treatment scope',
      resource: {
        ...consent,
        scope: {
          coding: [
            { system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'treatment' },
          ],
        },
      },
      problems: [problem('/scope', 'scope', 'must be patient-privacy')],
    },
    {
      label: 'a leap-second dateTime',
      resource: { ...consent, dateTime: '2016-12-31T23:59:60Z' },
      problems: [problem('/dateTime', 'instant', 'must be a time without a leap second')],
    },
    {
      label: 'a dateTime past 9999 in UTC',
      resource: { ...consent, dateTime: '9999-12-31T20:00:00-04:00' },
      problems: [problem('/dateTime', 'instant', 'must be no later than 9999-12-31 in UTC')],
    },
  ])('reports a Consent with $label, without values', ({ resource, problems }) => {
    // Act
    const result = consentFromFhir(validatedConsent(resource));

    // Assess
    expect(result).toEqual({ ok: false, problems });
    expect(JSON.stringify(result)).not.toMatch(/Jane|pat-1|treatment|2016-12/);
  });

  it('refuses a Consent with no status in the R4 schema already, before any mapping, without values', () => {
    // Act
    const result = validateR4Resource(withoutStatus);

    // Assess
    expect(result).toEqual({
      ok: false,
      problems: [problem('', 'required', 'is required: status')],
    });
    expect(JSON.stringify(result)).not.toMatch(/Jane|pat-1/);
  });
});

describe('referenceKey', () => {
  it.each([
    { reference: 'Patient/pat-1', key: 'Patient/pat-1' },
    { reference: 'Patient/pat-1/_history/3', key: 'Patient/pat-1' },
    {
      reference: 'urn:uuid:4f6c1d5e-0000-4000-8000-000000000001',
      key: 'Patient/4f6c1d5e-0000-4000-8000-000000000001',
    },
    { reference: 'https://ehr.example.org/fhir/R4/Patient/pat-1', key: 'Patient/pat-1' },
    { reference: 'http://ehr.example.org/Patient/pat-1/_history/2', key: 'Patient/pat-1' },
    { reference: 'Patient/A.b-9', key: 'Patient/A.b-9' },
    { reference: 'Group/pat-1', key: undefined },
    { reference: 'https://ehr.example.org/fhir/Group/pat-1', key: undefined },
    { reference: '#contained-patient', key: undefined },
    { reference: 'Patient?identifier=http://hospital.example|MRN-001', key: undefined },
    { reference: 'Patient/', key: undefined },
    { reference: 'Patient/pat 1', key: undefined },
    { reference: `Patient/${'x'.repeat(65)}`, key: undefined },
    { reference: 'ftp://ehr.example.org/Patient/pat-1', key: undefined },
    { reference: 'urn:oid:1.2.3', key: undefined },
    { reference: '', key: undefined },
  ])('turns $reference into $key', ({ reference, key }) => {
    // Act
    const result = referenceKey(reference);

    // Assess
    expect(result).toBe(key);
  });

  it('gives an Observation the key of the Patient it names by id or by fullUrl', () => {
    // Prepare
    const uuid = '4f6c1d5e-0000-4000-8000-000000000001';
    const byId = patientReferenceKeys(validatedPatient({ ...patient, id: uuid }));
    const { id: _id, ...withoutId } = patient;
    const byFullUrl = patientReferenceKeys(validatedPatient(withoutId), `urn:uuid:${uuid}`);

    // Act
    const key = referenceKey(`urn:uuid:${uuid}`);

    // Assess
    expect(byId).toEqual([key]);
    expect(byFullUrl).toEqual([key]);
  });
});

describe('patientReferenceKeys', () => {
  it.each([
    { label: 'an id alone', id: 'pat-1', fullUrl: undefined, keys: ['Patient/pat-1'] },
    {
      label: 'an id and a different fullUrl',
      id: 'pat-1',
      fullUrl: 'urn:uuid:4f6c1d5e-0000-4000-8000-000000000001',
      keys: ['Patient/pat-1', 'Patient/4f6c1d5e-0000-4000-8000-000000000001'],
    },
    {
      label: 'an id and a RESTful fullUrl naming it',
      id: 'pat-1',
      fullUrl: 'https://ehr.example.org/fhir/Patient/pat-1',
      keys: ['Patient/pat-1'],
    },
    { label: 'neither', id: undefined, fullUrl: undefined, keys: [] },
  ])('lists the keys of $label', ({ id, fullUrl, keys }) => {
    // Prepare
    const { id: _id, ...withoutId } = patient;
    const resource = validatedPatient(id === undefined ? withoutId : { ...patient, id });

    // Act
    const result = patientReferenceKeys(resource, fullUrl);

    // Assess
    expect(result).toEqual(keys);
  });
});
