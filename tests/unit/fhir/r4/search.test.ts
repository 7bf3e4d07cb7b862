import { describe, expect, it } from 'vitest';
import { InputValidationError } from '../../../../lib/errors.ts';
import descriptorsJson from '../../../../lib/fhir/r4/descriptors.json' with { type: 'json' };
import {
  dateRange,
  decodeCursor,
  decodeEverythingCursor,
  encodeCursor,
  encodeEverythingCursor,
  everythingUrl,
  isStoredType,
  PATIENT_DATA_TYPES,
  parseEverything,
  parseResourceSearch,
  patientDataDescriptor,
  resourceSearchUrl,
  SEARCH_PAGE_DEFAULT,
  type SearchQuery,
  STORED_TYPES,
  searchParametersOf,
} from '../../../../lib/fhir/r4/search.ts';
import { REFUSED_RESOURCE_TYPES } from '../../../../lib/pipeline/fhirRecords.ts';

const PATIENT = '0b7e4c1a-5d2f-4e8a-9c3b-6f1d2e3a4b5c';
const OBSERVATION = '5d0c9a52-3b8e-4f17-9a61-2c4b7e8d1f30';
const BASE = 'https://fhir.example.test/fhir/r4';

const parseObservationSearch = (query: SearchQuery) => parseResourceSearch('Observation', query);

function refused(query: SearchQuery): InputValidationError {
  try {
    parseObservationSearch(query);
  } catch (error) {
    if (error instanceof InputValidationError) return error;
    throw error;
  }
  throw new Error('the search was accepted');
}

describe('parseResourceSearch of Observation: the patient', () => {
  it.each<[string, SearchQuery]>([
    ['patient=<id>', { patient: PATIENT }],
    ['patient=Patient/<id>', { patient: `Patient/${PATIENT}` }],
    ['subject=Patient/<id>', { subject: `Patient/${PATIENT}` }],
    ['subject:Patient=<id>', { 'subject:Patient': PATIENT }],
    ['_format=json beside it', { patient: PATIENT, _format: 'json' }],
    [
      '_format=application/fhir+json beside it',
      { patient: PATIENT, _format: 'application/fhir+json' },
    ],
  ])('reads %s, with the default page size', (_, query) => {
    // Act
    const search = parseObservationSearch(query);

    // Assess
    expect(search).toStrictEqual({
      resourceType: 'Observation',
      patientId: PATIENT,
      count: SEARCH_PAGE_DEFAULT,
    });
  });

  it('passes an id that is not ours on, for the consent gate to answer 404 and audit', () => {
    // Act
    const search = parseObservationSearch({ patient: 'not-a-uuid' });

    // Assess
    expect(search.patientId).toBe('not-a-uuid');
  });

  it.each<[string, SearchQuery, string]>([
    ['no patient at all', {}, '/patient'],
    ['an empty patient', { patient: '' }, '/patient'],
    ['two patients (FHIR OR)', { patient: `${PATIENT},${OBSERVATION}` }, '/patient'],
    ['a reference to another type', { subject: `Group/${PATIENT}` }, '/subject'],
    ['an empty reference', { patient: 'Patient/' }, '/patient'],
    ['both patient and subject', { patient: PATIENT, subject: `Patient/${PATIENT}` }, '/subject'],
    ['a NUL byte in the patient', { patient: `${PATIENT}\u0000` }, '/patient'],
    ['a control character in the reference', { subject: `Patient/\u001b${PATIENT}` }, '/subject'],
  ])('refuses %s with 400 naming %s', (_, query, path) => {
    // Act
    const error = refused(query);

    // Assess
    expect(error.statusCode).toBe(400);
    expect(error.problems.map((problem) => problem.path)).toEqual([path]);
  });
});

describe('parseResourceSearch of Observation: _count', () => {
  it.each([
    ['1', 1],
    ['250', 250],
    ['1000', 1000],
  ])('takes _count=%s', (count, expected) => {
    // Act
    const search = parseObservationSearch({ patient: PATIENT, _count: count });

    // Assess
    expect(search.count).toBe(expected);
  });

  it.each(['0', '1001', '-1', '2.5', 'ten', '', '1e3', ' 10', '10,20', '00001000'])(
    'refuses _count=%j with 400',
    (count) => {
      // Act
      const error = refused({ patient: PATIENT, _count: count });

      // Assess
      expect(error.problems.map((problem) => problem.path)).toEqual(['/_count']);
    },
  );
});

describe('parseResourceSearch of Observation: unknown parameters and formats', () => {
  it.each<[string, SearchQuery, string]>([
    ['a filter we do not support', { patient: PATIENT, 'value-quantity': '5' }, '/value-quantity'],
    ['_sort', { patient: PATIENT, _sort: 'date' }, '/_sort'],
    ['a name with odd characters', { patient: PATIENT, 'x y<': '1' }, ''],
    ['_format=xml', { patient: PATIENT, _format: 'xml' }, '/_format'],
  ])('refuses %s rather than ignoring it', (_, query, path) => {
    // Act
    const error = refused(query);

    // Assess
    expect(error.problems.map((problem) => problem.path)).toEqual([path]);
  });

  it('never echoes a value it refuses', () => {
    // Act
    const error = refused({ patient: 'Jane Doe,123-45-6789', _count: 'Jane Doe' });

    // Assess
    const said = JSON.stringify({ message: error.message, problems: error.problems });
    expect(said).not.toContain('Jane Doe');
    expect(said).not.toContain('123-45-6789');
  });
});

describe('the keyset cursor', () => {
  it.each([
    ['an effective time', { effectiveMicros: '1648828019829000', id: OBSERVATION }],
    ['a time before 1970', { effectiveMicros: '-1506279180170877', id: OBSERVATION }],
    ['no effective time', { effectiveMicros: null, id: OBSERVATION }],
    ['the first instant of year 1', { effectiveMicros: '-62135596800000000', id: OBSERVATION }],
    ['the last instant of year 9999', { effectiveMicros: '253402300799999999', id: OBSERVATION }],
  ])('round-trips a position with %s through an opaque, URL-safe token', (_, position) => {
    // Act
    const cursor = encodeCursor(position);

    // Assess
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor)).toStrictEqual(position);
    expect(parseObservationSearch({ patient: PATIENT, _cursor: cursor }).after).toStrictEqual(
      position,
    );
  });

  it.each([
    ['not base64url', 'a+b/c='],
    ['not JSON', Buffer.from('{nope').toString('base64url')],
    ['an object', Buffer.from('{"e":1}').toString('base64url')],
    ['a time that is not a number', Buffer.from(`["soon","${OBSERVATION}"]`).toString('base64url')],
    ['a time as a JSON number', Buffer.from(`[1,"${OBSERVATION}"]`).toString('base64url')],
    ['an id that is not ours', Buffer.from('[null,"1; DROP TABLE"]').toString('base64url')],
    ['three elements', Buffer.from(`[null,"${OBSERVATION}",1]`).toString('base64url')],
    ['a very long token', 'A'.repeat(300)],
    [
      'a time PostgreSQL cannot hold (far before year 1)',
      Buffer.from(`["-999999999999999999","${OBSERVATION}"]`).toString('base64url'),
    ],
    [
      'a time after year 9999',
      Buffer.from(`["999999999999999999","${OBSERVATION}"]`).toString('base64url'),
    ],
    [
      'a time a microsecond before year 1',
      Buffer.from(`["-62135596800000001","${OBSERVATION}"]`).toString('base64url'),
    ],
    [
      'a time a microsecond after year 9999',
      Buffer.from(`["253402300800000000","${OBSERVATION}"]`).toString('base64url'),
    ],
  ])('refuses a cursor that is %s with 400', (_, cursor) => {
    // Act
    const error = refused({ patient: PATIENT, _cursor: cursor });

    // Assess
    expect(decodeCursor(cursor)).toBeUndefined();
    expect(error.problems.map((problem) => problem.path)).toEqual(['/_cursor']);
  });
});

describe('resourceSearchUrl of the Observation search', () => {
  it('writes the search as understood: patient by id, the page size, and the cursor', () => {
    // Prepare
    const search = parseObservationSearch({
      subject: `Patient/${PATIENT.toUpperCase()}`,
      _count: '2',
    });
    const next = { effectiveMicros: '1648828019829000', id: OBSERVATION };

    // Act
    const self = resourceSearchUrl(BASE, search);
    const following = resourceSearchUrl(BASE, search, next);

    // Assess
    expect(self).toBe(`${BASE}/Observation?patient=${PATIENT}&_count=2`);
    expect(following).toBe(
      `${BASE}/Observation?patient=${PATIENT}&_count=2&_cursor=${encodeCursor(next)}`,
    );
    const parsed = new URL(following);
    expect(parseObservationSearch(Object.fromEntries(parsed.searchParams)).after).toStrictEqual(
      next,
    );
  });
});

function refusedSearch(resourceType: string, query: SearchQuery): InputValidationError {
  try {
    parseResourceSearch(resourceType, query);
  } catch (error) {
    if (error instanceof InputValidationError) return error;
    throw error;
  }
  throw new Error('the search was accepted');
}

function refusedEverything(query: SearchQuery): InputValidationError {
  try {
    parseEverything(query);
  } catch (error) {
    if (error instanceof InputValidationError) return error;
    throw error;
  }
  throw new Error('the parameters were accepted');
}

function micros(iso: string): string {
  return String(BigInt(Date.parse(iso)) * 1000n);
}

describe('patientDataDescriptor and isStoredType', () => {
  it.each(['Condition', 'Encounter', 'Observation', 'MedicationRequest', 'Device'])(
    'knows %s as patient data',
    (type) => {
      // Act
      const descriptor = patientDataDescriptor(type);

      // Assess
      expect(descriptor?.kind).toBe('patient-data');
      expect(isStoredType(type)).toBe(true);
    },
  );

  it.each(['Patient', 'Practitioner', 'Organization', 'Location', 'Consent', 'Bundle', 'Nope'])(
    'does not search %s by patient',
    (type) => {
      // Act
      const descriptor = patientDataDescriptor(type);

      // Assess
      expect(descriptor).toBeUndefined();
    },
  );

  it.each([
    ['Patient', true],
    ['Practitioner', true],
    ['Organization', true],
    ['Consent', false],
    ['Bundle', false],
    ['Binary', false],
    ['Parameters', false],
    ['OperationOutcome', false],
    ['Nope', false],
  ])('says whether %s is stored: %s', (type, stored) => {
    // Act
    const answer = isStoredType(type);

    // Assess
    expect(answer).toBe(stored);
  });
});

describe('STORED_TYPES and PATIENT_DATA_TYPES', () => {
  it('leaves out exactly what the pipeline refuses, and Consent (kept as consent, not a resource)', () => {
    // Prepare
    const r4 = Object.keys(descriptorsJson);

    // Act
    const unstored = r4.filter((type) => !STORED_TYPES.includes(type)).sort();

    // Assess
    expect(unstored).toEqual([...REFUSED_RESOURCE_TYPES.keys(), 'Consent'].sort());
  });

  it('lists the stored types in name order, patient data among them', () => {
    // Assess
    expect(STORED_TYPES).toEqual([...STORED_TYPES].sort());
    expect(STORED_TYPES).toEqual(expect.arrayContaining(['Patient', 'Practitioner', 'Condition']));
    expect(STORED_TYPES).not.toContain('Consent');
    expect(PATIENT_DATA_TYPES.every((type) => STORED_TYPES.includes(type))).toBe(true);
    expect(PATIENT_DATA_TYPES.every((type) => patientDataDescriptor(type) !== undefined)).toBe(
      true,
    );
    expect(PATIENT_DATA_TYPES).toEqual(expect.arrayContaining(['Observation', 'Encounter']));
    expect(PATIENT_DATA_TYPES).not.toContain('Practitioner');
  });
});

describe('parseResourceSearch: the patient and paging', () => {
  it('reads a Condition search by patient, with the default page size', () => {
    // Act
    const search = parseResourceSearch('Condition', { patient: `Patient/${PATIENT}` });

    // Assess
    expect(search).toStrictEqual({
      resourceType: 'Condition',
      patientId: PATIENT,
      count: SEARCH_PAGE_DEFAULT,
    });
  });

  it('takes subject for a type whose patient is its subject', () => {
    // Act
    const search = parseResourceSearch('Encounter', { subject: PATIENT, _count: '5' });

    // Assess
    expect(search.patientId).toBe(PATIENT);
    expect(search.count).toBe(5);
  });

  it('refuses subject for a type that has none (AllergyIntolerance)', () => {
    // Act
    const error = refusedSearch('AllergyIntolerance', { patient: PATIENT, subject: PATIENT });

    // Assess
    expect(error.problems.map((problem) => problem.path)).toEqual(['/subject']);
  });

  it('requires the patient', () => {
    // Act
    const error = refusedSearch('Condition', { code: '1234' });

    // Assess
    expect(error.problems.map((problem) => problem.path)).toEqual(['/patient']);
  });

  it('takes the cursor of a next link', () => {
    // Prepare
    const position = { effectiveMicros: '1648828019829000', id: OBSERVATION };

    // Act
    const search = parseResourceSearch('Condition', {
      patient: PATIENT,
      _cursor: encodeCursor(position),
    });

    // Assess
    expect(search.after).toStrictEqual(position);
  });

  it.each(['Practitioner', 'Patient', 'Consent', 'Nope'])('refuses to search %s', (type) => {
    // Act
    const error = refusedSearch(type, { patient: PATIENT });

    // Assess
    expect(error.statusCode).toBe(400);
  });
});

describe('parseResourceSearch: date', () => {
  it.each<[string, { fromMicros?: string; toMicros?: string }]>([
    [
      '2024',
      { fromMicros: micros('2024-01-01T00:00:00Z'), toMicros: micros('2025-01-01T00:00:00Z') },
    ],
    [
      '2024-02',
      { fromMicros: micros('2024-02-01T00:00:00Z'), toMicros: micros('2024-03-01T00:00:00Z') },
    ],
    [
      '2024-02-29',
      { fromMicros: micros('2024-02-29T00:00:00Z'), toMicros: micros('2024-03-01T00:00:00Z') },
    ],
    [
      'eq2023-12-31',
      { fromMicros: micros('2023-12-31T00:00:00Z'), toMicros: micros('2024-01-01T00:00:00Z') },
    ],
    ['ge2024-02', { fromMicros: micros('2024-02-01T00:00:00Z') }],
    ['gt2024-02', { fromMicros: micros('2024-03-01T00:00:00Z') }],
    ['le2024-02', { toMicros: micros('2024-03-01T00:00:00Z') }],
    ['lt2024-02', { toMicros: micros('2024-02-01T00:00:00Z') }],
    [
      '2024-02-29T10:15+02:00',
      { fromMicros: micros('2024-02-29T08:15:00Z'), toMicros: micros('2024-02-29T08:16:00Z') },
    ],
    [
      '2024-02-29T10:15:30Z',
      { fromMicros: micros('2024-02-29T10:15:30Z'), toMicros: micros('2024-02-29T10:15:31Z') },
    ],
    [
      'ge2024-02-29T10:15:30.25-05:00',
      { fromMicros: String(BigInt(micros('2024-02-29T15:15:30Z')) + 250_000n) },
    ],
    [
      '0099',
      { fromMicros: micros('0099-01-01T00:00:00Z'), toMicros: micros('0100-01-01T00:00:00Z') },
    ],
    ['1969-12-31', { fromMicros: '-86400000000', toMicros: '0' }],
  ])('turns date=%s into a half-open UTC range', (date, range) => {
    // Act
    const search = parseResourceSearch('Condition', { patient: PATIENT, date });

    // Assess
    expect(search.date).toStrictEqual(range);
    expect(search.dateText).toBe(date);
  });

  it('narrows a fraction to its precision', () => {
    // Act
    const range = dateRange('2024-01-01T00:00:00.123Z');

    // Assess
    expect(range).toStrictEqual({
      from: BigInt(micros('2024-01-01T00:00:00.123Z')),
      to: BigInt(micros('2024-01-01T00:00:00.124Z')),
    });
  });

  it.each([
    '2023-02-29',
    '2024-13',
    '2024-00-10',
    '2024-01-01T24:00Z',
    '2024-01-01T10:00:60Z',
    '2024-01-01T10:00',
    '2024-01-01T10Z',
    '24',
    'ne2024',
    'sa2024',
    'ge',
    'ge2024,le2025',
    '2024-01-01 ',
    'yesterday',
  ])('refuses date=%j with 400 naming /date', (date) => {
    // Act
    const error = refusedSearch('Condition', { patient: PATIENT, date });

    // Assess
    expect(error.problems.map((problem) => problem.path)).toEqual(['/date']);
  });
});

describe('parseResourceSearch: code, category and status', () => {
  it.each<[string, object]>([
    ['http://snomed.info/sct|44054006', { system: 'http://snomed.info/sct', code: '44054006' }],
    ['44054006', { code: '44054006' }],
    ['|44054006', { system: null, code: '44054006' }],
  ])('reads code=%s', (code, filter) => {
    // Act
    const search = parseResourceSearch('Condition', { patient: PATIENT, code });

    // Assess
    expect(search.code).toStrictEqual(filter);
  });

  it.each([
    ['a bare code', 'laboratory'],
    ['system|code', 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory'],
  ])('matches category on the code of %s', (_, category) => {
    // Act
    const search = parseResourceSearch('Observation', { patient: PATIENT, category });

    // Assess
    expect(search.category).toBe('laboratory');
  });

  it('reads status', () => {
    // Act
    const search = parseResourceSearch('Encounter', { patient: PATIENT, status: 'finished' });

    // Assess
    expect(search.status).toBe('finished');
  });

  it.each<[string, SearchQuery, string]>([
    ['two codes (FHIR OR)', { code: 'a,b' }, '/code'],
    ['an empty code', { code: '' }, '/code'],
    ['a system without a code', { code: 'http://loinc.org|' }, '/code'],
    ['two bars', { code: 'a|b|c' }, '/code'],
    ['a status with a system', { status: 'x|final' }, '/status'],
    ['a code modifier', { 'code:text': 'x' }, '/code:text'],
    ['a NUL byte inside a code', { code: 'a\u0000b' }, '/code'],
    ['a code that is a NUL byte', { code: '\u0000' }, '/code'],
    ['a NUL byte in a system', { code: 's\u0000|c' }, '/code'],
    ['a NUL byte in a status', { status: '\u0000final' }, '/status'],
    ['a NUL byte in a category', { category: 'vital-signs\u0000' }, '/category'],
    ['an escape character in a code', { code: 'a\u001bb' }, '/code'],
    ['a DEL character in a code', { code: 'a\u007fb' }, '/code'],
    ['a C1 control character in a code', { code: 'a\u0085b' }, '/code'],
  ])('refuses %s with 400', (_, filters, path) => {
    // Act
    const error = refusedSearch('Observation', { patient: PATIENT, ...filters });

    // Assess
    expect(error.problems.map((problem) => problem.path)).toEqual([path]);
  });

  it.each<[string, string]>([
    ['Encounter', 'code'],
    ['Encounter', 'category'],
    ['AdverseEvent', 'status'],
    ['AppointmentResponse', 'date'],
  ])('refuses on %s the %s its descriptor has no path for', (type, name) => {
    // Act
    const error = refusedSearch(type, { patient: PATIENT, [name]: 'x' });

    // Assess
    expect(error.problems.map((problem) => problem.path)).toEqual([`/${name}`]);
  });

  it('names each parameter searchable on a type, and only those', () => {
    // Act
    const observation = searchParametersOf(patientDataDescriptor('Observation') as never);
    const encounter = searchParametersOf(patientDataDescriptor('Encounter') as never);

    // Assess
    expect(observation).toEqual([
      'patient',
      'subject',
      'subject:Patient',
      'date',
      'code',
      'category',
      'status',
      '_count',
      '_cursor',
    ]);
    expect(encounter).toEqual([
      'patient',
      'subject',
      'subject:Patient',
      'date',
      'status',
      '_count',
      '_cursor',
    ]);
  });

  it('never echoes a value it refuses', () => {
    // Act
    const error = refusedSearch('Condition', {
      patient: PATIENT,
      code: 'Jane Doe,123-45-6789',
      date: 'Jane Doe',
      category: '123-45-6789|',
      status: 'Jane Doe\u0000',
    });

    // Assess
    const said = JSON.stringify({ message: error.message, problems: error.problems });
    expect(said).not.toContain('Jane Doe');
    expect(said).not.toContain('123-45-6789');
  });
});

describe('resourceSearchUrl', () => {
  it('writes every filter as understood, and parses back to the same search', () => {
    // Prepare
    const search = parseResourceSearch('Observation', {
      subject: `Patient/${PATIENT.toUpperCase()}`,
      date: 'ge2024-01',
      code: 'http://loinc.org|8480-6',
      category: 'http://terminology.hl7.org/CodeSystem/observation-category|vital-signs',
      status: 'final',
      _count: '2',
    });
    const next = { effectiveMicros: '1648828019829000', id: OBSERVATION };

    // Act
    const following = resourceSearchUrl(BASE, search, next);

    // Assess
    const url = new URL(following);
    expect(url.pathname).toBe('/fhir/r4/Observation');
    const again = parseResourceSearch('Observation', Object.fromEntries(url.searchParams));
    expect(again).toStrictEqual({ ...search, patientId: PATIENT, after: next });
  });

  it('writes a code without a system as |code', () => {
    // Prepare
    const search = parseResourceSearch('Condition', { patient: PATIENT, code: '|x' });

    // Act
    const self = resourceSearchUrl(BASE, search);

    // Assess
    expect(self).toBe(`${BASE}/Condition?patient=${PATIENT}&code=%7Cx&_count=100`);
  });
});

describe('parseEverything', () => {
  it('takes nothing: the first page of every type', () => {
    // Act
    const search = parseEverything({});

    // Assess
    expect(search).toStrictEqual({ count: SEARCH_PAGE_DEFAULT });
  });

  it('reads _count, _since, _type and _cursor', () => {
    // Prepare
    const after = { resourceType: 'Encounter', effectiveMicros: null, id: OBSERVATION };

    // Act
    const search = parseEverything({
      _count: '10',
      _since: '2024-02-29T10:15:30+01:00',
      _type: 'Condition,Encounter,Practitioner,Patient,Condition',
      _cursor: encodeEverythingCursor(after),
    });

    // Assess
    expect(search).toStrictEqual({
      count: 10,
      sinceMicros: micros('2024-02-29T09:15:30Z'),
      sinceText: '2024-02-29T10:15:30+01:00',
      types: ['Condition', 'Encounter', 'Practitioner', 'Patient'],
      after,
    });
  });

  it.each<[string, SearchQuery, string]>([
    ['a date as _since', { _since: '2024-02-29' }, '/_since'],
    ['_since without a zone', { _since: '2024-02-29T10:15:30' }, '/_since'],
    ['an impossible _since', { _since: '2024-02-30T10:15:30Z' }, '/_since'],
    ['a type R4 does not define', { _type: 'Condition,Nope' }, '/_type'],
    ['a type never stored', { _type: 'Consent' }, '/_type'],
    ['an empty type', { _type: 'Condition,' }, '/_type'],
    [
      'a search cursor',
      { _cursor: encodeCursor({ effectiveMicros: null, id: OBSERVATION }) },
      '/_cursor',
    ],
    ['_count 0', { _count: '0' }, '/_count'],
    ['a search parameter', { patient: PATIENT }, '/patient'],
  ])('refuses %s with 400', (_, query, path) => {
    // Act
    const error = refusedEverything(query);

    // Assess
    expect(error.problems.map((problem) => problem.path)).toEqual([path]);
  });

  it.each([
    [
      'a cursor with a bad type',
      Buffer.from(`["encounter",null,"${OBSERVATION}"]`).toString('base64url'),
    ],
    [
      'a cursor with a bad time',
      Buffer.from(`["Encounter",1,"${OBSERVATION}"]`).toString('base64url'),
    ],
    [
      'a cursor with a time PostgreSQL cannot hold',
      Buffer.from(`["Condition","-999999999999999999","${OBSERVATION}"]`).toString('base64url'),
    ],
    [
      'a cursor with a time after year 9999',
      Buffer.from(`["Condition","253402300800000000","${OBSERVATION}"]`).toString('base64url'),
    ],
  ])('refuses %s', (_, cursor) => {
    // Act
    const position = decodeEverythingCursor(cursor);

    // Assess
    expect(position).toBeUndefined();
    expect(refusedEverything({ _cursor: cursor }).problems.map((problem) => problem.path)).toEqual([
      '/_cursor',
    ]);
  });

  it('writes the URL of a page, parsing back to the same parameters', () => {
    // Prepare
    const search = parseEverything({
      _type: 'Condition,Encounter',
      _since: '2024-01-01T00:00:00Z',
    });
    const after = { resourceType: 'Condition', effectiveMicros: '0', id: OBSERVATION };

    // Act
    const url = new URL(everythingUrl(BASE, PATIENT.toUpperCase(), search, after));

    // Assess
    expect(url.pathname).toBe(`/fhir/r4/Patient/${PATIENT}/$everything`);
    expect(parseEverything(Object.fromEntries(url.searchParams))).toStrictEqual({
      ...search,
      after,
    });
  });
});
