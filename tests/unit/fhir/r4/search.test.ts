import { describe, expect, it } from 'vitest';
import { InputValidationError } from '../../../../lib/errors.ts';
import {
  decodeCursor,
  encodeCursor,
  OBSERVATION_PAGE_DEFAULT,
  observationSearchUrl,
  parseObservationSearch,
  type SearchQuery,
} from '../../../../lib/fhir/r4/search.ts';

const PATIENT = '0b7e4c1a-5d2f-4e8a-9c3b-6f1d2e3a4b5c';
const OBSERVATION = '5d0c9a52-3b8e-4f17-9a61-2c4b7e8d1f30';
const BASE = 'https://fhir.example.test/fhir/r4';

function refused(query: SearchQuery): InputValidationError {
  try {
    parseObservationSearch(query);
  } catch (error) {
    if (error instanceof InputValidationError) return error;
    throw error;
  }
  throw new Error('the search was accepted');
}

describe('parseObservationSearch: the patient', () => {
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
    expect(search).toStrictEqual({ patientId: PATIENT, count: OBSERVATION_PAGE_DEFAULT });
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
  ])('refuses %s with 400 naming %s', (_, query, path) => {
    // Act
    const error = refused(query);

    // Assess
    expect(error.statusCode).toBe(400);
    expect(error.problems.map((problem) => problem.path)).toEqual([path]);
  });
});

describe('parseObservationSearch: _count', () => {
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

describe('parseObservationSearch: unknown parameters and formats', () => {
  it.each<[string, SearchQuery, string]>([
    ['a filter we do not support', { patient: PATIENT, code: '8480-6' }, '/code'],
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
  ])('refuses a cursor that is %s with 400', (_, cursor) => {
    // Act
    const error = refused({ patient: PATIENT, _cursor: cursor });

    // Assess
    expect(decodeCursor(cursor)).toBeUndefined();
    expect(error.problems.map((problem) => problem.path)).toEqual(['/_cursor']);
  });
});

describe('observationSearchUrl', () => {
  it('writes the search as understood: patient by id, the page size, and the cursor', () => {
    // Prepare
    const search = parseObservationSearch({
      subject: `Patient/${PATIENT.toUpperCase()}`,
      _count: '2',
    });
    const next = { effectiveMicros: '1648828019829000', id: OBSERVATION };

    // Act
    const self = observationSearchUrl(BASE, search);
    const following = observationSearchUrl(BASE, search, next);

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
