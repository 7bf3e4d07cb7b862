import { Ajv } from 'ajv';
import { afterEach, describe, expect, it, vi } from 'vitest';
import r4ResourceTypes from '../../../../lib/fhir/r4/resourceTypes.json' with { type: 'json' };
import { FHIR_STRING_MAX_LENGTH } from '../../../../lib/fhir/r4/schemaRules.ts';
import { validateR4Resource } from '../../../../lib/fhir/r4/validation.ts';
import type { SchemaProblem } from '../../../../lib/fhir/validation.ts';
import {
  export10Resources,
  type FhirJson,
  SYNTHEA_FILES,
  syntheaLines,
} from '../../../helpers/fhir.ts';

const patient = {
  resourceType: 'Patient',
  id: 'pat-1',
  identifier: [
    {
      type: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }],
      },
      value: 'MRN-001',
    },
  ],
  name: [{ use: 'official', family: 'Doe', given: ['Jane'] }],
  gender: 'female',
  birthDate: '1990-01-15',
};

const observation = {
  resourceType: 'Observation',
  id: 'obs-1',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
  subject: { reference: 'Patient/pat-1' },
  effectiveDateTime: '2024-02-29T10:00:00Z',
  valueQuantity: { value: 72, unit: '/min' },
};

const bundle = {
  resourceType: 'Bundle',
  type: 'collection',
  entry: [{ fullUrl: 'urn:uuid:4f6c1d5e-0000-4000-8000-000000000001', resource: patient }],
};

const CALENDAR_MESSAGE = 'must be a real calendar date';
const R4_TYPE_MESSAGE = 'must be one of the R4 resource types';

function problem(path: string, keyword: string, message: string): SchemaProblem {
  return { path, keyword, message };
}

/** The resource without one of its elements. */
function withoutElement(resource: object, element: string): Record<string, unknown> {
  return Object.fromEntries(Object.entries(resource).filter(([name]) => name !== element));
}

describe('validateR4Resource on Synthea data', () => {
  it.each(SYNTHEA_FILES.flatMap((file) => syntheaLines(file)))(
    'accepts $file line $line',
    ({ resource }) => {
      // Act
      const result = validateR4Resource(resource);

      // Assess
      expect(result).toEqual({ ok: true, value: resource });
    },
  );
});

describe('validateR4Resource on Patient, Observation, Consent and Bundle', () => {
  it.each([
    { label: 'a Patient', resource: patient },
    { label: 'an Observation', resource: observation },
    {
      label: 'a Consent without a patient (R4 makes it optional)',
      resource: {
        resourceType: 'Consent',
        status: 'active',
        scope: { coding: [{ code: 'patient-privacy' }] },
        category: [{ coding: [{ code: 'INFA' }] }],
      },
    },
    { label: 'a collection Bundle', resource: bundle },
    {
      label: 'a Bundle whose entry is an invalid Patient (entries are validated on their own)',
      resource: { ...bundle, entry: [{ resource: { ...patient, gender: 'F' } }] },
    },
    {
      label: 'an Observation whose status is absent for a stated reason (only _status)',
      resource: {
        ...withoutElement(observation, 'status'),
        _status: {
          extension: [
            {
              url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason',
              valueCode: 'unknown',
            },
          ],
        },
      },
    },
    { label: 'a leap day', resource: { ...patient, birthDate: '2024-02-29' } },
    { label: 'a leap day in year 0004', resource: { ...patient, birthDate: '0004-02-29' } },
    { label: 'a partial birthDate', resource: { ...patient, birthDate: '1990-02' } },
    { label: 'a year-only birthDate', resource: { ...patient, birthDate: '1990' } },
    {
      label: 'a string of exactly the R4 limit',
      resource: { ...patient, name: [{ family: 'a'.repeat(FHIR_STRING_MAX_LENGTH) }] },
    },
    {
      label: 'spaced base64 groups',
      resource: {
        ...patient,
        extension: [{ url: 'http://example.org/photo', valueBase64Binary: ' QUJD RA== ' }],
      },
    },
  ])('accepts $label', ({ resource }) => {
    // Act
    const result = validateR4Resource(resource);

    // Assess
    expect(result).toEqual({ ok: true, value: resource });
  });

  const invalidCases: ReadonlyArray<{
    label: string;
    resource: unknown;
    /** What the sender wrote that no problem may repeat; short values occur in messages anyway. */
    offending?: string;
    problems: SchemaProblem[];
  }> = [
    {
      label: 'a Patient born on Feb 30',
      resource: { ...patient, birthDate: '1990-02-30' },
      offending: '1990-02-30',
      problems: [problem('/birthDate', 'format', CALENDAR_MESSAGE)],
    },
    {
      label: 'a Patient born on a non-leap Feb 29',
      resource: { ...patient, birthDate: '2023-02-29' },
      offending: '2023-02-29',
      problems: [problem('/birthDate', 'format', CALENDAR_MESSAGE)],
    },
    {
      label: 'a Patient born in month 13',
      resource: { ...patient, birthDate: '1990-13-01' },
      offending: '1990-13-01',
      problems: [problem('/birthDate', 'pattern', 'must be a date: YYYY, YYYY-MM or YYYY-MM-DD')],
    },
    {
      label: 'an Observation effective on Apr 31',
      resource: { ...observation, effectiveDateTime: '2023-04-31T10:00:00Z' },
      offending: '2023-04-31',
      problems: [problem('/effectiveDateTime', 'format', CALENDAR_MESSAGE)],
    },
    {
      label: 'an Observation without a status',
      resource: { ...withoutElement(observation, 'status'), note: [{ text: 'Jane Doe' }] },
      offending: 'Jane Doe',
      problems: [problem('', 'required', 'is required: status')],
    },
    {
      label: 'an Observation component without a code',
      resource: { ...observation, component: [{ valueString: 'Jane Doe' }] },
      offending: 'Jane Doe',
      problems: [problem('/component/0', 'required', 'is required: code')],
    },
    {
      label: 'an extension without a url, nor a status',
      resource: {
        ...withoutElement(observation, 'status'),
        extension: [{ valueString: 'Jane Doe' }],
      },
      offending: 'Jane Doe',
      problems: [
        problem('', 'required', 'is required: status'),
        problem('/extension/0', 'required', 'is required: url'),
      ],
    },
    {
      label: 'a Patient with gender F',
      resource: { ...patient, gender: 'F' },
      problems: [problem('/gender', 'enum', 'must be one of male, female, other, unknown')],
    },
    {
      label: 'a Patient with gender Female-ish',
      resource: { ...patient, gender: 'Female-ish' },
      offending: 'Female-ish',
      problems: [problem('/gender', 'enum', 'must be one of male, female, other, unknown')],
    },
    {
      label: 'an Observation whose status is a number',
      resource: { ...observation, status: 12345 },
      offending: '12345',
      problems: [
        problem(
          '/status',
          'enum',
          'must be one of registered, preliminary, final, amended, corrected, cancelled, entered-in-error, unknown',
        ),
      ],
    },
    {
      label: 'an Observation whose quantity is a string number',
      resource: { ...observation, valueQuantity: { value: '72.5', unit: '/min' } },
      offending: '72.5',
      problems: [problem('/valueQuantity/value', 'type', 'must be number')],
    },
    {
      label: 'an Observation without code',
      resource: { resourceType: 'Observation', status: 'final', valueString: 'Jane Doe' },
      offending: 'Jane Doe',
      problems: [problem('', 'required', 'is required: code')],
    },
    {
      label: 'a Patient with an unexpected property',
      resource: { ...patient, nickname: 'Janie' },
      offending: 'nickname',
      problems: [problem('', 'additionalProperties', 'unexpected property')],
    },
    {
      label: 'a Patient with a name given as a string',
      resource: { ...patient, name: [{ given: 'Jane Doe' }] },
      offending: 'Jane Doe',
      problems: [problem('/name/0/given', 'type', 'must be array')],
    },
    {
      label: 'a Patient id with spaces',
      resource: { ...patient, id: 'Jane Doe 1990' },
      offending: 'Jane Doe 1990',
      problems: [problem('/id', 'pattern', 'must be an id: 1 to 64 letters, digits, "-" or "."')],
    },
    {
      label: 'a Patient with a blank family name',
      resource: { ...patient, name: [{ family: '\u000b\u000b\u000b' }] },
      offending: '\u000b\u000b\u000b',
      problems: [
        problem(
          '/name/0/family',
          'pattern',
          'must be a non-empty string whose only whitespace is space, tab, CR or LF',
        ),
      ],
    },
    {
      label: 'a Bundle of an unknown type',
      resource: { ...bundle, type: 'shopping-list' },
      offending: 'shopping-list',
      problems: [
        problem(
          '/type',
          'enum',
          'must be one of document, message, transaction, transaction-response, batch, batch-response, history, searchset, collection',
        ),
      ],
    },
    {
      label: 'a Bundle entry without a resourceType',
      resource: { ...bundle, entry: [...bundle.entry, { resource: { name: 'Jane Doe' } }] },
      offending: 'Jane Doe',
      problems: [problem('/entry/1/resource', 'required', 'is required: resourceType')],
    },
    {
      label: 'a misspelt resourceType',
      resource: { resourceType: 'Immunisation', id: 'imm-1' },
      offending: 'Immunisation',
      problems: [problem('/resourceType', 'enum', R4_TYPE_MESSAGE)],
    },
    {
      label: 'a resourceType named like an Object.prototype member',
      resource: { resourceType: 'constructor' },
      offending: 'constructor',
      problems: [problem('/resourceType', 'enum', R4_TYPE_MESSAGE)],
    },
    {
      label: 'a resourceType of __proto__',
      resource: JSON.parse('{"resourceType":"__proto__"}'),
      offending: '__proto__',
      problems: [problem('/resourceType', 'enum', R4_TYPE_MESSAGE)],
    },
    {
      label: 'a resourceType that is not a string',
      resource: { resourceType: ['Patient-ish'] },
      offending: 'Patient-ish',
      problems: [problem('/resourceType', 'enum', R4_TYPE_MESSAGE)],
    },
    {
      label: 'a missing resourceType',
      resource: { name: [{ family: 'Doe-Smith' }] },
      offending: 'Doe-Smith',
      problems: [problem('', 'required', 'is required: resourceType')],
    },
    {
      label: 'a __proto__ key at the top and in a name',
      resource: JSON.parse(
        '{"resourceType":"Patient","__proto__":{"family":"Doe-Smith"},"name":[{"__proto__":"Doe-Smith"}]}',
      ),
      offending: 'Doe-Smith',
      problems: [
        problem('', 'additionalProperties', 'unexpected property'),
        problem('/name/0', 'additionalProperties', 'unexpected property'),
      ],
    },
    {
      label: 'a string one character over the R4 limit',
      resource: { ...patient, name: [{ family: 'a'.repeat(FHIR_STRING_MAX_LENGTH + 1) }] },
      offending: 'aaaaaaaaaa',
      problems: [problem('/name/0/family', 'maxLength', 'must be at most 1048576 characters long')],
    },
    {
      label: 'a huge code',
      resource: { ...patient, gender: 'female '.repeat(200_000) },
      offending: 'female female',
      problems: [problem('/gender', 'enum', 'must be one of male, female, other, unknown')],
    },
    {
      label: 'base64 made to backtrack (the official pattern takes minutes on it)',
      resource: {
        ...patient,
        extension: [{ url: 'http://example.org/x', valueBase64Binary: `${'QUJD  '.repeat(40)}!` }],
      },
      offending: 'QUJD',
      problems: [problem('/extension/0/valueBase64Binary', 'pattern', 'must be base64')],
    },
  ];

  it.each(invalidCases)('rejects $label', ({ resource, problems }) => {
    // Act
    const result = validateR4Resource(resource);

    // Assess
    expect(result).toEqual({ ok: false, problems });
  });

  it.each(
    invalidCases.flatMap(({ label, resource, offending }) =>
      offending === undefined ? [] : [{ label, resource, offending }],
    ),
  )('does not echo the offending value for $label', ({ resource, offending }) => {
    // Act
    const serialised = JSON.stringify(validateR4Resource(resource));

    // Assess
    expect(serialised).toContain('"ok":false');
    expect(serialised).not.toContain(offending);
    expect(serialised).not.toContain(JSON.stringify(offending).slice(1, -1));
  });

  it.each([null, [], [patient], 42, 'Jane Doe', true])(
    'rejects the non-object %j with one type problem at the root',
    (value) => {
      // Act
      const result = validateR4Resource(value);

      // Assess
      expect(result).toEqual({ ok: false, problems: [problem('', 'type', 'must be object')] });
    },
  );

  it('reports each problem once, sorted by path', () => {
    // Prepare
    const resource = {
      ...patient,
      gender: 'F',
      birthDate: '1990-02-30',
      nickname: 'Janie',
      alias: 'JD',
      name: [{ given: [1, 2] }, { family: 7 }],
    };

    // Act
    const result = validateR4Resource(resource);

    // Assess
    expect(result).toEqual({
      ok: false,
      problems: [
        problem('', 'additionalProperties', 'unexpected property'),
        problem('/birthDate', 'format', CALENDAR_MESSAGE),
        problem('/gender', 'enum', 'must be one of male, female, other, unknown'),
        problem('/name/0/given/0', 'type', 'must be string'),
        problem('/name/0/given/1', 'type', 'must be string'),
        problem('/name/1/family', 'type', 'must be string'),
      ],
    });
  });
});

describe('validateR4Resource: text PostgreSQL cannot store', () => {
  const IN_VALUE = 'must not hold NUL (U+0000) or an unpaired surrogate';
  const IN_NAME = 'must not be named with NUL (U+0000) or an unpaired surrogate';
  const DATE_MESSAGE = 'must be a date: YYYY, YYYY-MM or YYYY-MM-DD';
  const consent = {
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [{ system: 'urn:x', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: 'Patient/pat-1' },
  };
  const withCode = (code: string) => ({
    ...observation,
    code: { coding: [{ system: 'http://loinc.org', code }] },
  });
  const withIdentifierValue = (value: string) => ({
    ...patient,
    identifier: [{ ...patient.identifier[0], value }],
  });

  it.each([
    ['NUL', '\u0000'],
    ['a lone surrogate', '\ud800'],
  ])('rejects %s, by path and never by value, wherever it is', (_, bad) => {
    // Prepare
    const cases: [unknown, SchemaProblem[]][] = [
      [withCode(`bad${bad}code`), [problem('/code/coding/0/code', 'characters', IN_VALUE)]],
      [
        { ...patient, name: [{ family: `Do${bad}e` }] },
        [problem('/name/0/family', 'characters', IN_VALUE)],
      ],
      [withIdentifierValue(`MRN${bad}1`), [problem('/identifier/0/value', 'characters', IN_VALUE)]],
      [
        { ...patient, extension: [{ url: `http://example.org/${bad}`, valueString: 'x' }] },
        [problem('/extension/0/url', 'characters', IN_VALUE)],
      ],
      [
        { ...patient, extension: [{ url: 'http://example.org/x', [`value${bad}`]: 'x' }] },
        [
          problem('/extension/0', 'additionalProperties', 'unexpected property'),
          problem('/extension/0/*', 'characters', IN_NAME),
        ],
      ],
      [
        { ...patient, birthDate: `1990${bad}` },
        [
          problem('/birthDate', 'characters', IN_VALUE),
          problem('/birthDate', 'pattern', DATE_MESSAGE),
        ],
      ],
      [
        { ...consent, patient: { reference: `Patient/pat${bad}1` } },
        [problem('/patient/reference', 'characters', IN_VALUE)],
      ],
    ];

    // Act
    const results = cases.map(([resource]) => validateR4Resource(resource));

    // Assess
    expect(results).toEqual(cases.map(([, problems]) => ({ ok: false, problems })));
    for (const fragment of ['Do', 'MRN', 'bad', 'example.org', '1990', 'pat\\u']) {
      expect(JSON.stringify(results)).not.toContain(fragment);
    }
  });

  it.each([
    ['a surrogate pair', '\u{1F600}'],
    ['U+FFFD', '\uFFFD'],
    ['accents', 'Zoë'],
  ])('accepts %s', (_, text) => {
    // Prepare
    const resource = { ...patient, name: [{ family: text }] };

    // Act
    const result = validateR4Resource(resource);

    // Assess
    expect(result).toEqual({ ok: true, value: resource });
  });
});

const exportResources = export10Resources();

/** The first resource of a type in the export: the first line of its NDJSON file. */
function firstOf(resourceType: string): FhirJson {
  const found = exportResources.find((resource) => resource.resourceType === resourceType);
  if (found === undefined) throw new Error(`the export holds no ${resourceType}`);
  return found;
}

describe('validateR4Resource on the 10-patient Synthea export', () => {
  it.each([
    'Condition',
    'Encounter',
    'DocumentReference',
    'MedicationRequest',
    'Practitioner',
    'Organization',
  ])('accepts the first %s', (resourceType) => {
    // Prepare
    const resource = firstOf(resourceType);

    // Act
    const result = validateR4Resource(resource);

    // Assess
    expect(result).toEqual({ ok: true, value: resource });
  });

  it('accepts a DocumentReference whose attachment is base64 data', () => {
    // Prepare
    const resource = firstOf('DocumentReference');

    // Act
    const result = validateR4Resource(resource);

    // Assess
    expect(resource).toMatchObject({
      content: [{ attachment: { data: expect.stringMatching(/^[0-9a-zA-Z+/=]{100,}$/) } }],
    });
    expect(result).toEqual({ ok: true, value: resource });
  });

  it('accepts every resource of every file', () => {
    // Act
    const rejected = exportResources.flatMap((resource) => {
      const result = validateR4Resource(resource);
      return result.ok ? [] : [{ resourceType: resource.resourceType, id: resource.id, result }];
    });

    // Assess
    expect(exportResources).toHaveLength(7160);
    expect(rejected).toEqual([]);
  }, 60_000);
});

describe('validateR4Resource', () => {
  const condition = firstOf('Condition');
  const encounter = firstOf('Encounter');
  const medicationRequest = firstOf('MedicationRequest');
  const documentReference = firstOf('DocumentReference');
  const attachment = (documentReference['content'] as { attachment: object }[])[0]?.attachment;

  const invalidCases: ReadonlyArray<{
    label: string;
    resource: unknown;
    /** What the sender wrote that no problem may repeat. */
    offending?: string;
    problems: SchemaProblem[];
  }> = [
    {
      label: 'a Condition whose subject is a string',
      resource: { ...condition, subject: 'Patient/jane-doe-1990' },
      offending: 'jane-doe-1990',
      problems: [problem('/subject', 'type', 'must be object')],
    },
    {
      label: 'an Encounter that starts on Feb 30',
      resource: { ...encounter, period: { start: '2020-02-30T10:00:00Z' } },
      offending: '2020-02-30',
      problems: [problem('/period/start', 'format', CALENDAR_MESSAGE)],
    },
    {
      label: 'a DocumentReference whose attachment is not base64',
      resource: {
        ...documentReference,
        content: [{ attachment: { ...attachment, data: 'Jane Doe, born 1990!' } }],
      },
      offending: 'Jane Doe',
      problems: [problem('/content/0/attachment/data', 'pattern', 'must be base64')],
    },
    {
      label: 'a Practitioner with an unexpected property',
      resource: { ...firstOf('Practitioner'), ssn: '999-12-3456' },
      offending: '999-12-3456',
      problems: [problem('', 'additionalProperties', 'unexpected property')],
    },
    {
      label: 'an Encounter without a class',
      resource: withoutElement(encounter, 'class'),
      problems: [problem('', 'required', 'is required: class')],
    },
    {
      label: 'an Encounter without a status',
      resource: withoutElement(encounter, 'status'),
      problems: [problem('', 'required', 'is required: status')],
    },
    {
      label: 'a MedicationRequest without an intent',
      resource: withoutElement(medicationRequest, 'intent'),
      problems: [problem('', 'required', 'is required: intent')],
    },
    {
      label: 'a MedicationRequest without a medication',
      resource: withoutElement(
        withoutElement(medicationRequest, 'medicationCodeableConcept'),
        'medicationReference',
      ),
      problems: [problem('', 'required', 'is required: medication[x]')],
    },
    {
      label: 'a Procedure without a status or a subject',
      resource: withoutElement(withoutElement(firstOf('Procedure'), 'status'), 'subject'),
      problems: [
        problem('', 'required', 'is required: status'),
        problem('', 'required', 'is required: subject'),
      ],
    },
    {
      label: 'a MedicationRequest without a subject',
      resource: { ...withoutElement(medicationRequest, 'subject'), note: [{ text: 'Jane Doe' }] },
      offending: 'Jane Doe',
      problems: [problem('', 'required', 'is required: subject')],
    },
    {
      label: 'an unknown resourceType',
      resource: { resourceType: 'JaneDoeRecord', id: 'x-1' },
      offending: 'JaneDoeRecord',
      problems: [problem('/resourceType', 'enum', R4_TYPE_MESSAGE)],
    },
    {
      label: 'a data type named as a resourceType',
      resource: { resourceType: 'CodeableConcept', text: 'Jane Doe' },
      offending: 'Jane Doe',
      problems: [problem('/resourceType', 'enum', R4_TYPE_MESSAGE)],
    },
    {
      label: 'an R4B resourceType',
      resource: { resourceType: 'SubscriptionStatus' },
      offending: 'SubscriptionStatus',
      problems: [problem('/resourceType', 'enum', R4_TYPE_MESSAGE)],
    },
    {
      label: 'a resourceType of __proto__',
      resource: JSON.parse('{"resourceType":"__proto__"}'),
      offending: '__proto__',
      problems: [problem('/resourceType', 'enum', R4_TYPE_MESSAGE)],
    },
    {
      label: 'a missing resourceType',
      resource: { code: { text: 'Jane Doe' } },
      offending: 'Jane Doe',
      problems: [problem('', 'required', 'is required: resourceType')],
    },
    {
      label: 'an array',
      resource: [condition],
      problems: [problem('', 'type', 'must be object')],
    },
  ];

  it.each(invalidCases)('rejects $label', ({ resource, problems }) => {
    // Act
    const result = validateR4Resource(resource);

    // Assess
    expect(result).toEqual({ ok: false, problems });
  });

  it.each(
    invalidCases.flatMap(({ label, resource, offending }) =>
      offending === undefined ? [] : [{ label, resource, offending }],
    ),
  )('does not echo the offending value for $label', ({ resource, offending }) => {
    // Act
    const serialised = JSON.stringify(validateR4Resource(resource));

    // Assess
    expect(serialised).toContain('"ok":false');
    expect(serialised).not.toContain(offending);
  });
});

describe('validateR4Resource on a cold start', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('compiles nothing when imported, then each type once, on its first use', async () => {
    // Prepare
    vi.resetModules();
    const compile = vi.spyOn(Ajv.prototype, 'compile');
    const goal = {
      resourceType: 'Goal',
      lifecycleStatus: 'active',
      description: { text: 'Walk daily' },
      subject: { reference: 'Patient/p-1' },
    };
    const flag = {
      resourceType: 'Flag',
      status: 'active',
      code: { text: 'Fall risk' },
      subject: { reference: 'Patient/p-1' },
    };

    // Act
    const fresh = await import('../../../../lib/fhir/r4/validation.ts');
    const compiledAtImport = compile.mock.calls.length;
    const results = [
      fresh.validateR4Resource(goal),
      fresh.validateR4Resource({ ...goal, lifecycleStatus: 'completed' }),
      fresh.validateR4Resource(flag),
      fresh.validateR4Resource({ ...goal, lifecycleStatus: 'done-ish' }),
      fresh.validateR4Resource(flag),
    ];

    // Assess
    expect(compiledAtImport).toBe(0);
    expect(results.map(({ ok }) => ok)).toEqual([true, true, true, false, true]);
    expect(compile).toHaveBeenCalledTimes(2);
  });
});

describe('validateR4Resource on every R4 type', () => {
  it('compiles each type and answers an empty one with problems or a pass, never a throw', () => {
    // Act
    const answers = r4ResourceTypes.map((resourceType) => {
      const result = validateR4Resource({ resourceType });
      return result.ok ? 'ok' : result.problems.length > 0 ? 'problems' : 'empty';
    });

    // Assess
    expect(answers).toHaveLength(r4ResourceTypes.length);
    expect(answers).not.toContain('empty');
    // Types that require an element refuse an empty one: Observation needs a status and a code.
    expect(answers[r4ResourceTypes.indexOf('Observation')]).toBe('problems');
  }, 60_000);
});
