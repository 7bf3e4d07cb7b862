/**
 * A token with a SMART launch context (its `patient` claim) reads its patient's data only,
 * through every read: anything else answers exactly as if it were not on file, and is audited.
 */
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { ForbiddenError, NotFoundError } from '../../../lib/errors.ts';
import {
  type FhirReader,
  readFhirPatient,
  readFhirResource,
  readPatientEverything,
  searchFhirResources,
} from '../../../lib/patients/fhirAccess.ts';
import { findPatientsByMrn, readPatient } from '../../../lib/patients/patientAccess.ts';
import { resourceIdOf } from '../../../lib/pipeline/resourceIdentity.ts';
import { type TestDatabase, useTestDatabase } from '../../helpers/database.ts';
import { consentFor, ndjson, patientResource } from '../../helpers/fhir.ts';
import { useTestPipeline } from '../../helpers/pipeline.ts';
import { thrownBy } from '../../helpers/thrown.ts';

const SENDER = 'system:launch-context';
const PATIENT_SCOPES = ['patient/Patient.r', 'patient/*.rs'];

interface AuditRecord {
  action: string;
  resource_type: string;
  resource_id: string | null;
  outcome: string;
  details: Record<string, unknown>;
}

async function auditRowsOf(database: TestDatabase, actor: string): Promise<AuditRecord[]> {
  const { rows } = await database.pool.query<AuditRecord>(
    `SELECT action, resource_type, resource_id, outcome, details
     FROM audit_log WHERE actor = $1 ORDER BY seq`,
    [actor],
  );
  return rows;
}

function observation(id: string, patient: string, extra: Record<string, unknown> = {}) {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { text: 'heart rate' },
    subject: { reference: `Patient/${patient}` },
    effectiveDateTime: '2026-02-03T04:05:06Z',
    ...extra,
  };
}

/** What a read threw, as a client would see it: status and message. */
async function answerOf(read: () => Promise<unknown>): Promise<[number, string]> {
  const error = await thrownBy(read);
  if (!(error instanceof NotFoundError) && !(error instanceof ForbiddenError)) {
    throw new Error(`expected a 404 or 403, got ${String(error)}`);
  }
  return [error.statusCode, error.message];
}

describe('reads with a SMART launch context', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);
  const ids = {
    a: '',
    b: '',
    refused: '',
    obsA: '',
    obsB: '',
    obsRefused: '',
    encounterA: '',
    practitioner: '',
  };
  const readerOf = (
    subject: string,
    patient: string,
    scopes: readonly string[] = PATIENT_SCOPES,
  ): FhirReader => ({ subject, scopes, patient });

  beforeAll(async () => {
    const { execution } = await pipeline.ingestBody(
      ndjson([
        patientResource('pat-a', 'MRN-LAUNCH-A', 'Alpha'),
        consentFor('Patient/pat-a'),
        patientResource('pat-b', 'MRN-LAUNCH-B', 'Beta'),
        consentFor('Patient/pat-b'),
        patientResource('pat-r', 'MRN-LAUNCH-R', 'Refusal'),
        consentFor('Patient/pat-r'),
        { resourceType: 'Practitioner', id: 'pr-1', name: [{ family: 'Doctor' }] },
        {
          resourceType: 'Encounter',
          id: 'enc-a',
          status: 'finished',
          class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
          subject: { reference: 'Patient/pat-a' },
          participant: [{ individual: { reference: 'Practitioner/pr-1' } }],
        },
        observation('obs-a', 'pat-a', { performer: [{ reference: 'Patient/pat-b' }] }),
        observation('obs-b', 'pat-b'),
        observation('obs-r', 'pat-r'),
      ]),
      'application/fhir+ndjson',
      SENDER,
    );
    expect(execution.status).toBe('SUCCEEDED');
    const idOf = async (mrn: string) => {
      const [view] = await findPatientsByMrn(pipeline.deps, 'system:test', mrn);
      if (view === undefined) throw new Error(`${mrn} did not load`);
      return view.id;
    };
    ids.a = await idOf('MRN-LAUNCH-A');
    ids.b = await idOf('MRN-LAUNCH-B');
    ids.refused = await idOf('MRN-LAUNCH-R');
    const { rowCount } = await database.pool.query(
      'UPDATE consents SET data_sharing = false WHERE patient_id = $1',
      [ids.refused],
    );
    expect(rowCount).toBe(1);
    const indexKey = await pipeline.deps.keyring.blindIndexKeyObject(database.pool);
    ids.obsA = resourceIdOf(indexKey, SENDER, 'Observation/obs-a');
    ids.obsB = resourceIdOf(indexKey, SENDER, 'Observation/obs-b');
    ids.obsRefused = resourceIdOf(indexKey, SENDER, 'Observation/obs-r');
    ids.encounterA = resourceIdOf(indexKey, SENDER, 'Encounter/enc-a');
    ids.practitioner = resourceIdOf(indexKey, SENDER, 'Practitioner/pr-1');
  });

  it('reads its own patient by id, v1 and FHIR, naming the launch patient in the audit', async () => {
    // Prepare
    const reader = readerOf('app:launch-own', ids.a);

    // Act
    const view = await readPatient(pipeline.deps, reader, ids.a.toUpperCase());
    const fhir = await readFhirPatient(pipeline.deps, reader, ids.a);

    // Assess
    expect(view).toMatchObject({ id: ids.a, mrn: 'MRN-LAUNCH-A' });
    expect(fhir).toMatchObject({ resourceType: 'Patient', id: ids.a });
    expect(await auditRowsOf(database, 'app:launch-own')).toMatchObject([
      { action: 'READ', resource_id: ids.a, details: { via: 'id', launchPatient: ids.a } },
      { action: 'READ', resource_id: ids.a, details: { via: 'fhir-read', launchPatient: ids.a } },
    ]);
  });

  it('answers another patient by id as one not on file, v1 and FHIR, with a DENY row', async () => {
    // Prepare
    const reader = readerOf('app:launch-other', ids.a);
    const unknown = randomUUID();

    // Act
    const other = await answerOf(() => readPatient(pipeline.deps, reader, ids.b));
    const absent = await answerOf(() => readPatient(pipeline.deps, reader, unknown));
    const otherFhir = await answerOf(() => readFhirPatient(pipeline.deps, reader, ids.b));
    const otherByType = await answerOf(() =>
      readFhirResource(pipeline.deps, reader, 'Patient', ids.b),
    );
    const absentFhir = await answerOf(() => readFhirPatient(pipeline.deps, reader, unknown));

    // Assess
    expect(other).toEqual([404, 'no such patient']);
    expect(absent).toEqual(other);
    expect(otherFhir).toEqual(absentFhir);
    expect(otherByType).toEqual(absentFhir);
    const rows = await auditRowsOf(database, 'app:launch-other');
    expect(rows[0]).toMatchObject({
      action: 'DENY',
      resource_type: 'Patient',
      resource_id: ids.b,
      outcome: 'denied',
      details: { reason: 'launch-context', via: 'id', launchPatient: ids.a },
    });
    expect(rows.filter((row) => row.resource_id === ids.b)).toHaveLength(3);
  });

  it('finds by MRN only its own patient: another patient’s MRN answers as one not on file', async () => {
    // Prepare
    const reader = readerOf('app:launch-mrn', ids.a);

    // Act
    const own = await findPatientsByMrn(pipeline.deps, reader, 'MRN-LAUNCH-A');
    const other = await findPatientsByMrn(pipeline.deps, reader, 'MRN-LAUNCH-B');
    const absent = await findPatientsByMrn(pipeline.deps, reader, 'MRN-LAUNCH-NOBODY');

    // Assess
    expect(own.map((view) => view.id)).toEqual([ids.a]);
    expect(other).toEqual([]);
    expect(absent).toEqual([]);
    expect(await auditRowsOf(database, 'app:launch-mrn')).toMatchObject([
      { action: 'READ', resource_id: ids.a, details: { via: 'mrn', launchPatient: ids.a } },
      {
        action: 'DENY',
        resource_id: ids.b,
        details: { reason: 'launch-context', via: 'mrn', launchPatient: ids.a },
      },
      { action: 'READ', resource_id: null, details: { matches: 0, launchPatient: ids.a } },
    ]);
  });

  it('reads its own resources, with references to another patient left as sent', async () => {
    // Prepare
    const reader = readerOf('app:launch-resource', ids.a);

    // Act
    const own = await readFhirResource(pipeline.deps, reader, 'Observation', ids.obsA);
    const unconfined = await readFhirResource(
      pipeline.deps,
      { subject: 'user:launch-clinician', scopes: ['user/Patient.r', 'user/*.rs'] },
      'Observation',
      ids.obsA,
    );

    // Assess
    expect(own).toMatchObject({ id: ids.obsA, subject: { reference: `Patient/${ids.a}` } });
    expect(own['performer']).toEqual([{ reference: 'Patient/pat-b' }]);
    expect(JSON.stringify(own)).not.toContain(ids.b);
    expect(unconfined['performer']).toEqual([{ reference: `Patient/${ids.b}` }]);
    expect(await auditRowsOf(database, 'app:launch-resource')).toMatchObject([
      {
        action: 'READ',
        resource_type: 'Observation',
        resource_id: ids.obsA,
        details: { via: 'fhir-read', patientId: ids.a, launchPatient: ids.a },
      },
    ]);
  });

  it.each([
    ['another patient’s resource', 'Observation', () => ids.obsB],
    ['a shared resource', 'Practitioner', () => ids.practitioner],
  ])('answers %s as one not on file, with a DENY row', async (_, type, idOf) => {
    // Prepare
    const actor = `app:launch-${type.toLowerCase()}`;
    const reader = readerOf(actor, ids.a);

    // Act
    const answer = await answerOf(() => readFhirResource(pipeline.deps, reader, type, idOf()));
    const absent = await answerOf(() =>
      readFhirResource(pipeline.deps, reader, type, randomUUID()),
    );

    // Assess
    expect(answer).toEqual([404, `no such ${type}`]);
    expect(answer).toEqual(absent);
    expect((await auditRowsOf(database, actor))[0]).toMatchObject({
      action: 'DENY',
      resource_type: type,
      resource_id: idOf(),
      outcome: 'denied',
      details: { reason: 'launch-context', via: 'fhir-read', launchPatient: ids.a },
    });
  });

  it('searches its own patient when the search names none, or names it', async () => {
    // Prepare
    const reader = readerOf('app:launch-search', ids.a);

    // Act
    const unnamed = await searchFhirResources(pipeline.deps, reader, 'Observation', {});
    const named = await searchFhirResources(pipeline.deps, reader, 'Observation', {
      subject: `Patient/${ids.a}`,
    });

    // Assess
    expect(unnamed.resources.map((resource) => resource['id'])).toEqual([ids.obsA]);
    expect(unnamed.search.patientId).toBe(ids.a);
    expect(named.resources.map((resource) => resource['id'])).toEqual([ids.obsA]);
  });

  it('answers a search of another patient as one of a patient not on file', async () => {
    // Prepare
    const reader = readerOf('app:launch-search-other', ids.a);

    // Act
    const other = await answerOf(() =>
      searchFhirResources(pipeline.deps, reader, 'Observation', { patient: ids.b }),
    );
    const absent = await answerOf(() =>
      searchFhirResources(pipeline.deps, reader, 'Observation', { patient: randomUUID() }),
    );

    // Assess
    expect(other).toEqual([404, 'no such patient']);
    expect(other).toEqual(absent);
    expect((await auditRowsOf(database, 'app:launch-search-other'))[0]).toMatchObject({
      action: 'DENY',
      resource_id: ids.b,
      details: { reason: 'launch-context', via: 'fhir-search', launchPatient: ids.a },
    });
  });

  it('reads its own $everything with the shared resources it references, and no one else’s', async () => {
    // Prepare
    const reader = readerOf('app:launch-everything', ids.a);

    // Act
    const own = await readPatientEverything(pipeline.deps, reader, ids.a, { count: 50 });
    const other = await answerOf(() =>
      readPatientEverything(pipeline.deps, reader, ids.b, { count: 50 }),
    );
    const absent = await answerOf(() =>
      readPatientEverything(pipeline.deps, reader, randomUUID(), { count: 50 }),
    );

    // Assess
    expect(own.resources.map((resource) => resource['id']).sort()).toEqual(
      [ids.a, ids.encounterA, ids.obsA].sort(),
    );
    expect(own.included.map((resource) => resource['id'])).toEqual([ids.practitioner]);
    expect(other).toEqual([404, 'no such patient']);
    expect(other).toEqual(absent);
    const rows = await auditRowsOf(database, 'app:launch-everything');
    expect(rows.filter((row) => row.action === 'READ')).toHaveLength(4);
    for (const row of rows) expect(row.details).toMatchObject({ launchPatient: ids.a });
  });

  it('reads nothing of its own patient who refused: every read answers as not on file, each a DENY', async () => {
    // Prepare
    const actor = 'app:launch-refused';
    const reader = readerOf(actor, ids.refused);
    const absent = readerOf('app:launch-absent', randomUUID());

    // Act
    const answers = [
      await answerOf(() => readPatient(pipeline.deps, reader, ids.refused)),
      await answerOf(() => readFhirPatient(pipeline.deps, reader, ids.refused)),
      await answerOf(() => readFhirResource(pipeline.deps, reader, 'Observation', ids.obsRefused)),
      await answerOf(() => searchFhirResources(pipeline.deps, reader, 'Observation', {})),
      await answerOf(() =>
        readPatientEverything(pipeline.deps, reader, ids.refused, { count: 50 }),
      ),
    ];
    const byMrn = await findPatientsByMrn(pipeline.deps, reader, 'MRN-LAUNCH-R');
    const absentAnswers = [
      await answerOf(() => readPatient(pipeline.deps, absent, absent.patient as string)),
      await answerOf(() => readFhirPatient(pipeline.deps, absent, absent.patient as string)),
      await answerOf(() => readFhirResource(pipeline.deps, absent, 'Observation', randomUUID())),
      await answerOf(() => searchFhirResources(pipeline.deps, absent, 'Observation', {})),
      await answerOf(() =>
        readPatientEverything(pipeline.deps, absent, absent.patient as string, { count: 50 }),
      ),
    ];

    // Assess
    expect(answers).toEqual(absentAnswers);
    expect(byMrn).toEqual([]);
    const rows = await auditRowsOf(database, actor);
    expect(rows).toHaveLength(6);
    for (const row of rows) {
      expect(row).toMatchObject({
        action: 'DENY',
        resource_type: 'Patient',
        resource_id: ids.refused,
        outcome: 'denied',
        details: { reason: 'consent', launchPatient: ids.refused },
      });
    }
  });

  it('needs a patient/ scope of the type too: 403 for a type the token was not granted', async () => {
    // Prepare
    const reader = readerOf('app:launch-narrow', ids.a, [
      'patient/Patient.r',
      'patient/Encounter.rs',
    ]);

    // Act
    const observations = await answerOf(() =>
      readFhirResource(pipeline.deps, reader, 'Observation', ids.obsA),
    );
    const encounter = await readFhirResource(pipeline.deps, reader, 'Encounter', ids.encounterA);
    const everything = await readPatientEverything(pipeline.deps, reader, ids.a, { count: 50 });

    // Assess
    expect(observations[0]).toBe(403);
    expect(encounter).toMatchObject({ id: ids.encounterA });
    expect(everything.resources.map((resource) => resource['resourceType']).sort()).toEqual([
      'Encounter',
      'Patient',
    ]);
  });

  it('confines user/ scopes too when the token carries a launch context', async () => {
    // Prepare
    const reader = readerOf('app:launch-user-scopes', ids.a, ['user/Patient.r', 'user/*.rs']);

    // Act
    const other = await answerOf(() => readPatient(pipeline.deps, reader, ids.b));
    const otherData = await answerOf(() =>
      readFhirResource(pipeline.deps, reader, 'Observation', ids.obsB),
    );

    // Assess
    expect(other).toEqual([404, 'no such patient']);
    expect(otherData).toEqual([404, 'no such Observation']);
  });
});
