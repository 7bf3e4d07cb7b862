import { describe, expect, it } from 'vitest';
import type { IngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import type { FhirConsentStatus } from '../../../lib/fhir/r4/model.ts';
import {
  blockFhirRecords,
  type ConsentFacts,
  type ConsentVerdicts,
  decideFhirConsent,
} from '../../../lib/pipeline/fhirConsent.ts';
import type {
  ConsentEntry,
  PatientEntry,
  PatientsPayload,
  ResourceEntry,
} from '../../../lib/pipeline/payloads.ts';

const RECEIVED_AT = new Date('2026-11-24T12:00:00.000Z');
const RUN = {
  id: '7d1c2f5e-52b1-4d1e-9a0e-6f1f3e2b9c41',
  status: 'running',
  currentStage: 'consentCheck',
  format: 'fhir-bundle',
  source: 'test',
  actor: 'system:test',
  dataKeyId: '0f2c8e1a-5b7d-4c3e-8a9f-1b2c3d4e5f60',
  counts: {},
  stageTimings: {},
  errorCode: null,
  createdAt: RECEIVED_AT,
  updatedAt: RECEIVED_AT,
  finishedAt: null,
  publishedAt: null,
  redrives: 0,
} satisfies IngestRun;

/** The batch's one Patient: known as Patient/p1 and by its transaction entry's urn:uuid. */
const P1_UUID = '5c7a1e0b-8f2d-4b6e-9a3c-2d1e0f9b8a7c';
const P1: PatientEntry = {
  index: 0,
  record: { resourceType: 'Patient', mrn: 'MRN-1' },
  referenceKeys: ['Patient/p1', `Patient/${P1_UUID}`],
};
const P1_ID = 'id-of-mrn-1';
const STORED_ID = 'id-of-a-stored-patient';

/** An Observation naming its patient as a subject by reference or by MR identifier. */
function observation(
  index: number,
  subject: { subjectReference: string } | { subjectMrn: string },
): ResourceEntry {
  return {
    index,
    resourceType: 'Observation',
    resource: { resourceType: 'Observation', code: { text: 'heart rate' } },
    search: {
      patientReferences: 'subjectReference' in subject ? [subject.subjectReference] : [],
      patientMrns: 'subjectMrn' in subject ? [subject.subjectMrn] : [],
      status: 'final',
      code: '8867-4',
    },
  };
}

function consent(
  index: number,
  patientReference: string,
  options: {
    status?: FhirConsentStatus;
    dataSharing?: boolean;
    research?: boolean;
    dateTime?: string;
  } = {},
): ConsentEntry {
  const { status = 'active', dataSharing = true, research = false, dateTime } = options;
  return {
    index,
    record: {
      resourceType: 'Consent',
      patientReference,
      status,
      dataSharing,
      research,
      ...(dateTime === undefined ? {} : { dateTime }),
    },
  };
}

function batch(
  parts: { resources?: ResourceEntry[]; consents?: ConsentEntry[] } = {},
): PatientsPayload {
  return { records: [P1], resources: parts.resources ?? [], consents: parts.consents ?? [] };
}

function factsWith(overrides: Partial<ConsentFacts> = {}): ConsentFacts {
  return {
    patientIds: new Map([[P1.index, P1_ID]]),
    idOfMrn: new Map(),
    storedIds: new Set(),
    referenceIndexes: new Map(),
    storedByReference: new Map(),
    withheldByReference: new Map(),
    withheldById: new Map(),
    waiting: new Map(),
    onRecord: new Map(),
    ...overrides,
  };
}

const permitOnRecord = (recordedAt: string, dataSharing = true) =>
  new Map([
    [STORED_ID, { dataSharing, research: false, explicit: true, recordedAt: new Date(recordedAt) }],
  ]);

describe('decideFhirConsent: a Patient of the batch', () => {
  it.each([
    ['an active permit', 'active', true, 'permit'],
    ['an active deny', 'active', false, 'refused'],
    ['an inactive Consent', 'inactive', true, 'refused'],
    ['a rejected Consent', 'rejected', true, 'refused'],
  ] as const)('with %s is %s', (_label, status, dataSharing, expected) => {
    // Prepare
    const validated = batch({
      consents: [consent(1, 'Patient/p1', { status, dataSharing, dateTime: '2026-01-01' })],
    });

    // Act
    const verdicts = decideFhirConsent(validated, factsWith(), RECEIVED_AT);

    // Assess
    expect(verdicts.patients).toStrictEqual([
      {
        entry: P1,
        patientId: P1_ID,
        consent: expected,
        decision: {
          index: 1,
          patient: { recordIndex: 0 },
          dataSharing: expected === 'permit',
          research: false,
          recordedAt: '2026-01-01',
          explicit: true,
        },
      },
    ]);
    expect(verdicts.consents).toStrictEqual([{ index: 1, kind: 'decided' }]);
  });

  it('without any Consent, in the batch or on record, has none', () => {
    // Act
    const verdicts = decideFhirConsent(batch(), factsWith(), RECEIVED_AT);

    // Assess
    expect(verdicts.patients).toStrictEqual([{ entry: P1, patientId: P1_ID, consent: 'absent' }]);
  });

  it.each(['draft', 'proposed', 'entered-in-error'] as const)(
    'with only a %s Consent has none: it decides nothing',
    (status) => {
      // Prepare
      const validated = batch({ consents: [consent(1, 'Patient/p1', { status })] });

      // Act
      const verdicts = decideFhirConsent(validated, factsWith(), RECEIVED_AT);

      // Assess
      expect(verdicts.patients).toStrictEqual([{ entry: P1, patientId: P1_ID, consent: 'absent' }]);
      expect(verdicts.consents).toStrictEqual([{ index: 1, kind: 'undecided' }]);
    },
  );

  it('is known by its urn:uuid fullUrl as by its id', () => {
    // Prepare
    const validated = batch({ consents: [consent(1, `urn:uuid:${P1_UUID}`)] });

    // Act
    const verdicts = decideFhirConsent(validated, factsWith(), RECEIVED_AT);

    // Assess
    expect(verdicts.patients[0]?.consent).toBe('permit');
    expect(verdicts.patients[0]?.decision?.patient).toStrictEqual({ recordIndex: 0 });
  });

  it('keeps a refusal on record dated after the batch permit, which it revokes', () => {
    // Prepare
    const validated = batch({ consents: [consent(1, 'Patient/p1', { dateTime: '2026-01-01' })] });
    const onRecord = new Map([
      [
        P1_ID,
        { dataSharing: false, research: false, explicit: true, recordedAt: new Date('2026-02-01') },
      ],
    ]);

    // Act
    const verdicts = decideFhirConsent(validated, factsWith({ onRecord }), RECEIVED_AT);

    // Assess
    expect(verdicts.patients).toStrictEqual([{ entry: P1, patientId: P1_ID, consent: 'refused' }]);
    expect(verdicts.consents).toStrictEqual([{ index: 1, kind: 'revoked' }]);
  });

  it.each([
    ['at the instant of', '2026-02-01T00:00:00.000Z', 'refused', 'revoked'],
    ['a millisecond after', '2026-02-01T00:00:00.001Z', 'permit', 'decided'],
  ] as const)('a permit dated %s the refusal on record: %s', (_, dateTime, patient, kind) => {
    // Prepare
    const validated = batch({ consents: [consent(1, 'Patient/p1', { dateTime })] });
    const onRecord = new Map([
      [
        P1_ID,
        { dataSharing: false, research: false, explicit: true, recordedAt: new Date('2026-02-01') },
      ],
    ]);

    // Act
    const verdicts = decideFhirConsent(validated, factsWith({ onRecord }), RECEIVED_AT);

    // Assess
    expect(verdicts.patients[0]?.consent).toBe(patient);
    expect(verdicts.consents).toStrictEqual([{ index: 1, kind }]);
  });

  it.each([
    ['an undated permit', undefined, 'refused', 'revoked'],
    ['a deny dated before it', '2025-01-01', 'refused', 'decided'],
  ] as const)('over a feed grant on record, %s: %s', (_, dateTime, patient, kind) => {
    // Prepare: an undated permit over a feed refusal; a dated deny over a feed grant.
    const dataSharing = dateTime === undefined;
    const validated = batch({
      consents: [
        consent(1, 'Patient/p1', {
          dataSharing,
          ...(dateTime === undefined ? {} : { dateTime }),
        }),
      ],
    });
    const onRecord = new Map([
      [
        P1_ID,
        {
          dataSharing: !dataSharing,
          research: false,
          explicit: false,
          recordedAt: new Date('2026-02-01'),
        },
      ],
    ]);

    // Act
    const verdicts = decideFhirConsent(validated, factsWith({ onRecord }), RECEIVED_AT);

    // Assess
    expect(verdicts.patients[0]?.consent).toBe(patient);
    expect(verdicts.consents).toStrictEqual([{ index: 1, kind }]);
  });

  it('follows a permit on record when the batch sends no Consent', () => {
    // Prepare
    const onRecord = new Map([
      [
        P1_ID,
        { dataSharing: true, research: false, explicit: true, recordedAt: new Date('2026-02-01') },
      ],
    ]);

    // Act
    const verdicts = decideFhirConsent(batch(), factsWith({ onRecord }), RECEIVED_AT);

    // Assess
    expect(verdicts.patients).toStrictEqual([{ entry: P1, patientId: P1_ID, consent: 'permit' }]);
  });

  it('takes the newest of several Consents, and of two as new the later resource', () => {
    // Prepare
    const validated = batch({
      consents: [
        consent(1, 'Patient/p1', { dataSharing: true, dateTime: '2026-03-01' }),
        consent(2, 'Patient/p1', { dataSharing: false, dateTime: '2026-01-01' }),
        consent(3, 'Patient/p1', { dataSharing: false, dateTime: '2026-03-01' }),
      ],
    });

    // Act
    const verdicts = decideFhirConsent(validated, factsWith(), RECEIVED_AT);

    // Assess
    expect(verdicts.patients[0]?.consent).toBe('refused');
    expect(verdicts.patients[0]?.decision?.index).toBe(3);
  });

  it('dates a Consent from the future, or without a dateTime, at the run', () => {
    // Prepare
    const future = batch({ consents: [consent(1, 'Patient/p1', { dateTime: '2099-01-01' })] });
    const undated = batch({ consents: [consent(2, 'Patient/p1')] });

    // Act
    const fromFuture = decideFhirConsent(future, factsWith(), RECEIVED_AT);
    const fromUndated = decideFhirConsent(undated, factsWith(), RECEIVED_AT);

    // Assess: both count as the run's time; only the dated one is explicit.
    expect(fromFuture.patients[0]?.decision).toMatchObject({
      index: 1,
      recordedAt: RECEIVED_AT.toISOString(),
      explicit: true,
    });
    expect(fromUndated.patients[0]?.decision).toMatchObject({
      index: 2,
      recordedAt: RECEIVED_AT.toISOString(),
      explicit: false,
    });
  });

  it('reads a dateTime with an offset as its instant: after the run, it counts as the run', () => {
    // Prepare: as text before the run's time, as an instant an hour after it.
    const validated = batch({
      consents: [consent(1, 'Patient/p1', { dateTime: '2026-11-24T08:00:00-05:00' })],
    });

    // Act
    const verdicts = decideFhirConsent(validated, factsWith(), RECEIVED_AT);

    // Assess
    expect(verdicts.patients[0]?.decision?.recordedAt).toBe(RECEIVED_AT.toISOString());
  });

  it('weighs a deny dated by offset after a permit of the same batch as the later decision', () => {
    // Prepare: the deny's text sorts first; its instant (13:00Z) is after the permit's (11:00Z).
    const validated = batch({
      consents: [
        consent(1, 'Patient/p1', { dateTime: '2026-11-24T11:00:00Z' }),
        consent(2, 'Patient/p1', { dataSharing: false, dateTime: '2026-11-24T10:00:00-03:00' }),
      ],
    });

    // Act
    const verdicts = decideFhirConsent(validated, factsWith(), RECEIVED_AT);

    // Assess
    expect(verdicts.patients[0]).toMatchObject({ consent: 'refused', decision: { index: 2 } });
  });

  it('never lets an undated permit replace a dated one of the same batch', () => {
    // Prepare
    const validated = batch({
      consents: [
        consent(1, 'Patient/p1', { dateTime: '2099-01-01', research: true }),
        consent(2, 'Patient/p1'),
      ],
    });

    // Act
    const verdicts = decideFhirConsent(validated, factsWith(), RECEIVED_AT);

    // Assess
    expect(verdicts.patients[0]?.decision).toMatchObject({ index: 1, explicit: true });
  });

  it('lets research through only with data sharing', () => {
    // Prepare
    const validated = batch({
      consents: [consent(1, 'Patient/p1', { dataSharing: false, research: true })],
    });

    // Act
    const verdicts = decideFhirConsent(validated, factsWith(), RECEIVED_AT);

    // Assess
    expect(verdicts.patients[0]?.decision?.research).toBe(false);
  });

  it('applies a decision that waited for it, with who sent it', () => {
    // Prepare
    const waiting = new Map([
      [
        `Patient/${P1_UUID}`,
        {
          dataSharing: true,
          research: true,
          explicit: true,
          recordedAt: new Date('2026-01-01T00:00:00Z'),
          recordedBy: 'system:earlier',
        },
      ],
    ]);

    // Act
    const verdicts = decideFhirConsent(batch(), factsWith({ waiting }), RECEIVED_AT);

    // Assess
    expect(verdicts.patients).toStrictEqual([
      {
        entry: P1,
        patientId: P1_ID,
        consent: 'permit',
        decision: {
          index: -1,
          patient: { recordIndex: 0 },
          dataSharing: true,
          research: true,
          recordedAt: '2026-01-01T00:00:00.000Z',
          explicit: true,
          recordedBy: 'system:earlier',
        },
      },
    ]);
  });

  it('lets a newer Consent of the batch outrank a decision that waited', () => {
    // Prepare
    const waiting = new Map([
      [
        'Patient/p1',
        {
          dataSharing: true,
          research: false,
          explicit: true,
          recordedAt: new Date('2026-01-01T00:00:00Z'),
          recordedBy: 'system:earlier',
        },
      ],
    ]);
    const validated = batch({
      consents: [consent(1, 'Patient/p1', { dataSharing: false, dateTime: '2026-02-01' })],
    });

    // Act
    const verdicts = decideFhirConsent(validated, factsWith({ waiting }), RECEIVED_AT);

    // Assess
    expect(verdicts.patients[0]?.consent).toBe('refused');
    expect(verdicts.patients[0]?.decision?.index).toBe(1);
  });
});

describe('decideFhirConsent: a Consent about a patient outside the batch', () => {
  it('about a stored patient is recorded for it when it is the newest', () => {
    // Prepare
    const validated = batch({ consents: [consent(1, 'Patient/s1', { dateTime: '2026-02-01' })] });
    const facts = factsWith({
      storedByReference: new Map([['Patient/s1', STORED_ID]]),
      onRecord: permitOnRecord('2026-01-01', false),
    });

    // Act
    const verdicts = decideFhirConsent(validated, facts, RECEIVED_AT);

    // Assess
    expect(verdicts.consents).toStrictEqual([{ index: 1, kind: 'decided' }]);
    expect(verdicts.decisionsOnStored).toStrictEqual([
      {
        index: 1,
        patient: { patientId: STORED_ID },
        dataSharing: true,
        research: false,
        recordedAt: '2026-02-01',
        explicit: true,
      },
    ]);
  });

  it('about a stored patient is not recorded when the one on record is newer', () => {
    // Prepare
    const validated = batch({ consents: [consent(1, 'Patient/s1', { dateTime: '2026-01-01' })] });
    const facts = factsWith({
      storedByReference: new Map([['Patient/s1', STORED_ID]]),
      onRecord: permitOnRecord('2026-02-01', false),
    });

    // Act
    const verdicts = decideFhirConsent(validated, facts, RECEIVED_AT);

    // Assess
    expect(verdicts.decisionsOnStored).toStrictEqual([]);
  });

  it('about a patient not stored yet waits under its reference, the newest per reference', () => {
    // Prepare
    const validated = batch({
      consents: [
        consent(1, 'Patient/later', { dataSharing: true, dateTime: '2026-02-01' }),
        consent(2, 'Patient/later', { dataSharing: false, dateTime: '2026-01-01' }),
        consent(3, 'https://ehr.example/fhir/Patient/other', { dateTime: '2026-01-01' }),
      ],
    });
    const facts = factsWith({
      referenceIndexes: new Map([
        ['Patient/later', 'bidx-later'],
        ['Patient/other', 'bidx-other'],
      ]),
    });

    // Act
    const verdicts = decideFhirConsent(validated, facts, RECEIVED_AT);

    // Assess
    expect(verdicts.consents.map(({ kind }) => kind)).toStrictEqual([
      'pending',
      'pending',
      'pending',
    ]);
    expect(verdicts.pending).toStrictEqual([
      {
        refBidx: 'bidx-later',
        dataSharing: true,
        research: false,
        recordedAt: '2026-02-01',
        explicit: true,
      },
      {
        refBidx: 'bidx-other',
        dataSharing: true,
        research: false,
        recordedAt: '2026-01-01',
        explicit: true,
      },
    ]);
    expect(verdicts.patients[0]?.consent).toBe('absent');
  });

  it.each([
    ['another resource type', 'Group/g1'],
    ['a contained resource', '#p1'],
    ['a conditional reference', 'Patient?identifier=urn:mrn|MRN-1'],
  ])('naming %s is an orphan, whatever it decides', (_label, reference) => {
    // Prepare
    const validated = batch({ consents: [consent(1, reference, { status: 'draft' })] });

    // Act
    const verdicts = decideFhirConsent(validated, factsWith(), RECEIVED_AT);

    // Assess
    expect(verdicts.consents).toStrictEqual([{ index: 1, kind: 'orphan' }]);
    expect(verdicts.pending).toStrictEqual([]);
  });
});

describe('decideFhirConsent: an Observation', () => {
  const permitted = [consent(9, 'Patient/p1')];

  it.each([
    ['its id', { subjectReference: 'Patient/p1' }],
    ['its urn:uuid fullUrl', { subjectReference: `urn:uuid:${P1_UUID}` }],
    [
      'an absolute URL with a version',
      { subjectReference: 'https://x.example/Patient/p1/_history/2' },
    ],
    ['its MR identifier', { subjectMrn: 'MRN-1' }],
  ] as const)(
    'naming a permitted Patient of the batch by %s is linked to it',
    (_label, subject) => {
      // Prepare
      const validated = batch({ resources: [observation(1, subject)], consents: permitted });
      const facts = factsWith({ idOfMrn: new Map([['MRN-1', P1_ID]]) });

      // Act
      const verdicts = decideFhirConsent(validated, facts, RECEIVED_AT);

      // Assess
      expect(verdicts.resources).toStrictEqual([
        {
          resource: validated.resources?.[0],
          kind: 'linked',
          patient: { recordIndex: 0 },
          consentOf: [{ recordIndex: 0 }],
        },
      ]);
    },
  );

  it.each([
    ['reference', { subjectReference: 'Patient/s1' }],
    ['MR identifier', { subjectMrn: 'MRN-STORED' }],
  ] as const)(
    'naming a permitted stored patient by %s is linked to it by id',
    (_label, subject) => {
      // Prepare
      const validated = batch({ resources: [observation(1, subject)] });
      const facts = factsWith({
        storedByReference: new Map([['Patient/s1', STORED_ID]]),
        idOfMrn: new Map([['MRN-STORED', STORED_ID]]),
        storedIds: new Set([STORED_ID]),
        onRecord: permitOnRecord('2026-01-01'),
      });

      // Act
      const verdicts = decideFhirConsent(validated, facts, RECEIVED_AT);

      // Assess
      expect(verdicts.resources).toStrictEqual([
        {
          resource: validated.resources?.[0],
          kind: 'linked',
          patient: { patientId: STORED_ID },
          consentOf: [{ patientId: STORED_ID }],
        },
      ]);
    },
  );

  it.each([
    ['a reference to no patient found', { subjectReference: 'Patient/nowhere' }, 'not-found'],
    ['an MR identifier of no patient found', { subjectMrn: 'MRN-NOWHERE' }, 'not-found'],
    ['a reference to another type', { subjectReference: 'Group/g1' }, 'not-a-patient'],
  ] as const)('naming %s is an orphan', (_label, subject, why) => {
    // Prepare
    const validated = batch({ resources: [observation(1, subject)], consents: permitted });
    const facts = factsWith({ idOfMrn: new Map([['MRN-NOWHERE', 'id-of-nobody']]) });

    // Act
    const verdicts = decideFhirConsent(validated, facts, RECEIVED_AT);

    // Assess
    expect(verdicts.resources).toStrictEqual([
      { resource: validated.resources?.[0], kind: 'orphan', why },
    ]);
  });

  it.each([
    ['without consent', [], 'absent'],
    ['who refuses', [consent(9, 'Patient/p1', { dataSharing: false })], 'refused'],
  ] as const)('of a patient %s is blocked with the patient', (_label, consents, expected) => {
    // Prepare
    const validated = batch({
      resources: [observation(1, { subjectReference: 'Patient/p1' })],
      consents: [...consents],
    });

    // Act
    const verdicts = decideFhirConsent(validated, factsWith(), RECEIVED_AT);

    // Assess
    expect(verdicts.resources).toStrictEqual([
      { resource: validated.resources?.[0], kind: 'blocked', consent: expected },
    ]);
  });
});

describe('decideFhirConsent: any other resource type', () => {
  const permitted = [consent(9, 'Patient/p1')];
  const resource = (
    index: number,
    resourceType: string,
    patientReferences: string[] = [],
  ): ResourceEntry => ({
    index,
    resourceType,
    resource: { resourceType },
    search: { patientReferences, patientMrns: [] },
  });

  it('passes a type no patient owns without a patient or a consent', () => {
    // Prepare
    const validated = batch({ resources: [resource(1, 'Organization')] });

    // Act
    const verdicts = decideFhirConsent(validated, factsWith(), RECEIVED_AT);

    // Assess
    expect(verdicts.resources).toStrictEqual([
      { resource: validated.resources?.[0], kind: 'shared' },
    ]);
  });

  const naming = (
    index: number,
    resourceType: string,
    named: { references?: string[]; candidates?: string[]; mrns?: string[] },
  ): ResourceEntry => ({
    ...resource(index, resourceType),
    namedPatients: {
      references: named.references ?? [],
      candidates: named.candidates ?? [],
      mrns: named.mrns ?? [],
      containsPatient: false,
    },
  });

  it.each([
    ['a literal reference', { references: ['Patient/p1'] }],
    ['a urn:uuid fullUrl', { candidates: [`urn:uuid:${P1_UUID}`] }],
    ['an MRN (conditional or logical)', { mrns: ['MRN-1'] }],
  ])(
    'gates a type no patient owns like patient data when it names a patient by %s',
    (_label, named) => {
      // Prepare
      const facts = factsWith({ idOfMrn: new Map([['MRN-1', P1_ID]]) });
      const refusedBatch = batch({
        resources: [naming(1, 'Contract', named)],
        consents: [consent(9, 'Patient/p1', { dataSharing: false })],
      });
      const permittedBatch = batch({
        resources: [naming(1, 'Contract', named)],
        consents: permitted,
      });

      // Act
      const refused = decideFhirConsent(refusedBatch, facts, RECEIVED_AT);
      const allowed = decideFhirConsent(permittedBatch, facts, RECEIVED_AT);

      // Assess
      expect(refused.resources.map(({ kind }) => kind)).toEqual(['blocked']);
      expect(allowed.resources).toStrictEqual([
        {
          resource: permittedBatch.resources?.[0],
          kind: 'linked',
          patient: { recordIndex: 0 },
          consentOf: [{ recordIndex: 0 }],
        },
      ]);
    },
  );

  it('passes a type no patient owns whose urn: references name no patient', () => {
    // Prepare
    const validated = batch({
      resources: [naming(1, 'Organization', { candidates: ['urn:uuid:not-a-patient'] })],
    });

    // Act
    const verdicts = decideFhirConsent(validated, factsWith(), RECEIVED_AT);

    // Assess
    expect(verdicts.resources.map(({ kind }) => kind)).toEqual(['shared']);
  });

  it('blocks patient data that names, outside its compartment elements, a patient who refused or was stopped', () => {
    // Prepare
    const withheld = { patientId: 'id-of-mrn-w', consent: 'absent' } as const;
    const facts = factsWith({
      storedByReference: new Map([['Patient/s1', STORED_ID]]),
      withheldByReference: new Map([['Patient/w1', withheld]]),
      onRecord: permitOnRecord('2026-01-01', false),
    });
    const about = (index: number, others: string[]): ResourceEntry => ({
      ...naming(index, 'Observation', { references: others }),
      search: { patientReferences: ['Patient/p1'], patientMrns: [] },
    });
    const validated = batch({
      resources: [
        about(1, ['Patient/s1']),
        about(2, ['Patient/w1']),
        about(3, ['Patient/unknown']),
      ],
      consents: permitted,
    });

    // Act
    const verdicts = decideFhirConsent(validated, facts, RECEIVED_AT);

    // Assess
    expect(verdicts.resources.map(({ kind }) => kind)).toEqual(['blocked', 'blocked', 'linked']);
  });

  it('makes patient data that names no patient an orphan, whatever the consents', () => {
    // Prepare
    const validated = batch({ resources: [resource(1, 'Encounter')], consents: permitted });

    // Act
    const verdicts = decideFhirConsent(validated, factsWith(), RECEIVED_AT);

    // Assess
    expect(verdicts.resources).toStrictEqual([
      { resource: validated.resources?.[0], kind: 'orphan', why: 'missing' },
    ]);
  });

  it.each([
    ['reference', ['Patient/w1'], []],
    ['MR identifier', [], ['MRN-W']],
  ] as const)(
    'blocks data naming by %s a patient the consent stage stopped before, for that patient’s consent',
    (_label, patientReferences, patientMrns) => {
      // Prepare
      const withheld = { patientId: 'id-of-mrn-w', consent: 'refused' } as const;
      const facts = factsWith({
        idOfMrn: new Map([['MRN-W', 'id-of-mrn-w']]),
        withheldByReference: new Map([['Patient/w1', withheld]]),
        withheldById: new Map([['id-of-mrn-w', withheld]]),
      });
      const validated = batch({
        resources: [
          {
            ...resource(1, 'Encounter', [...patientReferences]),
            search: { patientReferences: [...patientReferences], patientMrns: [...patientMrns] },
          },
        ],
      });

      // Act
      const verdicts = decideFhirConsent(validated, facts, RECEIVED_AT);

      // Assess
      expect(verdicts.resources).toStrictEqual([
        { resource: validated.resources?.[0], kind: 'blocked', consent: 'refused' },
      ]);
    },
  );

  it('links a Condition to its permitted patient, and blocks one also naming a patient who refused', () => {
    // Prepare
    const facts = factsWith({
      storedByReference: new Map([['Patient/s1', STORED_ID]]),
      onRecord: new Map([
        [
          STORED_ID,
          {
            dataSharing: false,
            research: false,
            explicit: true,
            recordedAt: new Date('2026-01-01T00:00:00Z'),
          },
        ],
      ]),
    });
    const validated = batch({
      resources: [
        resource(1, 'Condition', ['Patient/p1']),
        resource(2, 'Condition', ['Patient/p1', 'Patient/s1']),
      ],
      consents: permitted,
    });

    // Act
    const verdicts = decideFhirConsent(validated, facts, RECEIVED_AT);

    // Assess
    expect(verdicts.resources).toStrictEqual([
      {
        resource: validated.resources?.[0],
        kind: 'linked',
        patient: { recordIndex: 0 },
        consentOf: [{ recordIndex: 0 }],
      },
      { resource: validated.resources?.[1], kind: 'blocked', consent: 'refused' },
    ]);
  });
});

describe('blockFhirRecords', () => {
  const P2: PatientEntry = {
    index: 1,
    record: { resourceType: 'Patient', mrn: 'MRN-2' },
    referenceKeys: ['Patient/p2'],
  };
  const P3: PatientEntry = { index: 2, record: { resourceType: 'Patient', mrn: 'MRN-3' } };
  const linked = observation(3, { subjectReference: 'Patient/p1' });
  const orphaned = observation(4, { subjectReference: 'Patient/nowhere' });
  const held = observation(5, { subjectMrn: 'MRN-2' });
  const practitioner: ResourceEntry = {
    index: 12,
    resourceType: 'Practitioner',
    resource: { resourceType: 'Practitioner', id: 'pr1' },
    sourceKey: 'Practitioner/pr1',
    search: { patientReferences: [], patientMrns: [] },
  };
  const decision = (index: number, dataSharing: boolean, research = false) => ({
    index,
    patient: { recordIndex: 0 },
    dataSharing,
    research,
    recordedAt: '2026-01-01',
    explicit: true,
  });
  const onStored = { ...decision(8, false), patient: { patientId: STORED_ID } };
  const pending = {
    refBidx: 'bidx',
    dataSharing: true,
    research: false,
    recordedAt: '2026-01-01',
    explicit: true,
  };
  const verdicts: ConsentVerdicts = {
    patients: [
      { entry: P1, patientId: P1_ID, consent: 'permit', decision: decision(6, true) },
      {
        entry: P2,
        patientId: 'id-of-mrn-2',
        consent: 'refused',
        decision: decision(7, false, true),
      },
      { entry: P3, patientId: 'id-of-mrn-3', consent: 'absent' },
    ],
    resources: [
      {
        resource: linked,
        kind: 'linked',
        patient: { recordIndex: 0 },
        consentOf: [{ recordIndex: 0 }],
      },
      { resource: orphaned, kind: 'orphan', why: 'not-found' },
      { resource: held, kind: 'blocked', consent: 'refused' },
      { resource: practitioner, kind: 'shared' },
    ],
    consents: [
      { index: 6, kind: 'decided' },
      { index: 7, kind: 'decided' },
      { index: 8, kind: 'decided' },
      { index: 9, kind: 'orphan' },
      { index: 10, kind: 'undecided' },
      { index: 11, kind: 'pending' },
      { index: 12, kind: 'revoked' },
    ],
    decisionsOnStored: [onStored],
    pending: [pending],
  };

  it('passes on the permitted, their decisions, the refusals and the decisions that wait', () => {
    // Act
    const { output } = blockFhirRecords(RUN, verdicts);

    // Assess
    expect(output).toStrictEqual({
      records: [P1],
      refusals: [{ index: 1, mrn: 'MRN-2', research: true }],
      linkedResources: [
        { ...linked, patient: { recordIndex: 0 }, consentOf: [{ recordIndex: 0 }] },
        practitioner,
      ],
      consentDecisions: [decision(6, true), onStored],
      pendingConsents: [pending],
      withheldPatients: [
        { patientId: 'id-of-mrn-2', referenceKeys: ['Patient/p2'], consent: 'refused' },
      ],
    });
  });

  it('rejects orphans, blocked records and revoked permits, each block with its audited denial, and counts them', () => {
    // Act
    const { rejections, audit, counts } = blockFhirRecords(RUN, verdicts);

    // Assess
    expect(rejections).toStrictEqual([
      {
        recordIndex: 9,
        resourceType: 'Consent',
        reason: 'orphan-reference',
        details: { element: 'patient', reference: 'not-a-patient' },
      },
      {
        recordIndex: 12,
        resourceType: 'Consent',
        reason: 'consent',
        details: { requires: 'data_sharing', consent: 'revoked' },
      },
      {
        recordIndex: 1,
        resourceType: 'Patient',
        reason: 'consent',
        details: { requires: 'data_sharing', consent: 'refused' },
      },
      {
        recordIndex: 2,
        resourceType: 'Patient',
        reason: 'consent',
        details: { requires: 'data_sharing', consent: 'absent' },
      },
      {
        recordIndex: 4,
        resourceType: 'Observation',
        reason: 'orphan-reference',
        details: { element: 'subject', reference: 'not-found' },
      },
      {
        recordIndex: 5,
        resourceType: 'Observation',
        reason: 'consent',
        details: { requires: 'data_sharing', consent: 'refused' },
      },
    ]);
    expect(audit.map(({ resourceType, details }) => [resourceType, details])).toStrictEqual([
      [
        'Consent',
        { stage: 'consentCheck', recordIndex: 12, reason: 'consent', consent: 'revoked' },
      ],
      ['Patient', { stage: 'consentCheck', recordIndex: 1, reason: 'consent', consent: 'refused' }],
      ['Patient', { stage: 'consentCheck', recordIndex: 2, reason: 'consent', consent: 'absent' }],
      [
        'Observation',
        { stage: 'consentCheck', recordIndex: 5, reason: 'consent', consent: 'refused' },
      ],
    ]);
    expect(audit.every((entry) => entry.action === 'DENY' && entry.runId === RUN.id)).toBe(true);
    expect(audit.every((entry) => entry.actor === RUN.actor && entry.outcome === 'denied')).toBe(
      true,
    );
    expect(counts).toStrictEqual({
      consented: 1,
      blocked: 4,
      orphans: 2,
      resourcesConsented: 1,
      resourcesShared: 1,
      consentsUndecided: 1,
      consentsPending: 1,
    });
  });
});
