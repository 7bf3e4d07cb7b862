/**
 * Consent precedence: a refusal stands until a grant that is explicitly newer (an API grant, a
 * FHIR Consent dated after it); a flat record's grant, or an undated Consent's, carries no time
 * of its own and never outranks a refusal. Every ordered pair of the eight kinds of decision,
 * applied after a feed grant, and selected triples: the decision on record and the read.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { findIngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import { listRejections } from '../../../lib/db/repositories/rejections.ts';
import { ConflictError, ForbiddenError } from '../../../lib/errors.ts';
import { changeConsent } from '../../../lib/patients/consentChanges.ts';
import { readPatient } from '../../../lib/patients/patientAccess.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { occurrences, sweepDatabase } from '../../helpers/databaseSweep.ts';
import { consentFor, ndjson, patientResource } from '../../helpers/fhir.ts';
import { flatRecord, useTestPipeline } from '../../helpers/pipeline.ts';
import { thrownBy } from '../../helpers/thrown.ts';

const KINDS = [
  'flat grant',
  'flat refusal',
  'API grant',
  'API refusal',
  'FHIR permit dated before',
  'FHIR permit dated after',
  'FHIR deny dated before',
  'FHIR deny dated after',
] as const;
type Kind = (typeof KINDS)[number];

/** Before every decision of a test (each test's patient arrives later than this). */
const LONG_AGO = '2020-01-01T00:00:00Z';
const SENDER = 'system:precedence-feed';

/** What is on record after a decision: a grant (explicit or fed) or a refusal. */
type Standing = 'feed grant' | 'explicit grant' | 'refusal';

/**
 * The rule, as the README states it, for the decisions of this test: "before" is dated before
 * everything else, "after" and the API's default time come after everything before them.
 */
function standingAfter(current: Standing, kind: Kind): { standing: Standing; revoked: boolean } {
  const keep = { standing: current, revoked: false };
  switch (kind) {
    case 'flat grant':
      // It never outranks a refusal, nor replaces an explicit grant (nor changes a feed grant).
      return current === 'refusal' ? { standing: current, revoked: true } : keep;
    case 'FHIR permit dated before':
      // Older than any grant on record (which stands), no newer than any refusal (revoked).
      return current === 'refusal' ? { standing: current, revoked: true } : keep;
    case 'API grant':
    case 'FHIR permit dated after':
      return { standing: 'explicit grant', revoked: false };
    case 'FHIR deny dated before':
      // A refusal set aside only by a grant explicitly dated after it.
      return current === 'explicit grant' ? keep : { standing: 'refusal', revoked: false };
    case 'flat refusal':
    case 'API refusal':
    case 'FHIR deny dated after':
      return { standing: 'refusal', revoked: false };
  }
}

interface ConsentRecord {
  data_sharing: boolean;
  source: string;
  explicit: boolean;
}

interface Applied {
  /** The run that carried the decision, if a run did. */
  readonly runId?: string;
}

const unique = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;

describe('consent precedence', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);

  interface Subject {
    readonly id: string;
    readonly mrn: string;
    /** The sender's id of the FHIR Patient, which its Consents name. */
    readonly reference: string;
  }

  /** A patient stored from FHIR with an undated permit: a feed grant, like a flat one. */
  async function storedPatient(): Promise<Subject> {
    const mrn = unique('MRN-PREC');
    const fhirId = unique('pat');
    const { dateTime: _dateTime, ...undated } = consentFor(`Patient/${fhirId}`);
    const { runId, execution } = await pipeline.ingestBody(
      ndjson([patientResource(fhirId, mrn, 'Precedence'), undated]),
      'application/fhir+ndjson',
      SENDER,
    );
    expect(execution.status).toBe('SUCCEEDED');
    const { rows } = await database.pool.query<{ id: string }>(
      'SELECT id FROM patients WHERE created_run_id = $1',
      [runId],
    );
    expect(rows).toHaveLength(1);
    return { id: rows[0]!.id, mrn, reference: `Patient/${fhirId}` };
  }

  async function apply(subject: Subject, kind: Kind): Promise<Applied> {
    const flat = async (dataSharing: boolean) => {
      const { runId, execution } = await pipeline.ingest(
        [flatRecord({ mrn: subject.mrn, consent: { data_sharing: dataSharing } })],
        SENDER,
      );
      expect(execution.status).toBe('SUCCEEDED');
      return { runId };
    };
    const fhir = async (provision: 'permit' | 'deny', dated: 'before' | 'after') => {
      const dateTime = dated === 'before' ? LONG_AGO : new Date().toISOString();
      const { runId, execution } = await pipeline.ingestBody(
        ndjson([consentFor(subject.reference, { provision, dateTime })]),
        'application/fhir+ndjson',
        SENDER,
      );
      expect(execution.status).toBe('SUCCEEDED');
      return { runId };
    };
    const api = async (dataSharing: boolean) => {
      await changeConsent(pipeline.deps, 'user:precedence-officer', subject.id, {
        data_sharing: dataSharing,
        source: 'patient-portal',
      });
      return {};
    };
    switch (kind) {
      case 'flat grant':
        return flat(true);
      case 'flat refusal':
        return flat(false);
      case 'API grant':
        return api(true);
      case 'API refusal':
        return api(false);
      case 'FHIR permit dated before':
        return fhir('permit', 'before');
      case 'FHIR permit dated after':
        return fhir('permit', 'after');
      case 'FHIR deny dated before':
        return fhir('deny', 'before');
      case 'FHIR deny dated after':
        return fhir('deny', 'after');
    }
  }

  async function consentOf(patientId: string): Promise<ConsentRecord | undefined> {
    const { rows } = await database.pool.query<ConsentRecord>(
      'SELECT data_sharing, source, explicit FROM consents WHERE patient_id = $1',
      [patientId],
    );
    return rows[0];
  }

  async function historyLength(patientId: string): Promise<number> {
    const { rows } = await database.pool.query<{ n: string }>(
      'SELECT count(*) AS n FROM consent_history WHERE patient_id = $1',
      [patientId],
    );
    return Number(rows[0]?.n);
  }

  async function consentRejections(runId: string): Promise<unknown[]> {
    return (await listRejections(database.pool, runId)).map((rejection) => [
      rejection.resourceType,
      rejection.reason,
      rejection.details,
    ]);
  }

  async function denials(runId: string): Promise<unknown[]> {
    const { rows } = await database.pool.query<{ resource_type: string; details: unknown }>(
      `SELECT resource_type, details FROM audit_log
       WHERE run_id = $1 AND action = 'DENY' ORDER BY seq`,
      [runId],
    );
    return rows.map((row) => [row.resource_type, row.details]);
  }

  /** 200 or 403, as GET /api/v1/patients/{id} answers. */
  async function readStatus(patientId: string): Promise<200 | 403> {
    const read = await thrownBy(() =>
      readPatient(pipeline.deps, 'user:precedence-reader', patientId),
    );
    if (read instanceof ForbiddenError) return 403;
    if (read !== undefined) throw read;
    return 200;
  }

  /** Applies the decisions in turn, each checked against the rule, then the read. */
  async function expectPrecedence(kinds: readonly Kind[]): Promise<void> {
    const subject = await storedPatient();
    let standing: Standing = 'feed grant';
    for (const kind of kinds) {
      const historyBefore = await historyLength(subject.id);
      const expected = standingAfter(standing, kind);
      const { runId } = await apply(subject, kind);
      const onRecord = await consentOf(subject.id);
      expect(onRecord?.data_sharing, `${kinds.join(' → ')}: after ${kind}`).toBe(
        expected.standing !== 'refusal',
      );
      if (expected.standing === 'explicit grant') expect(onRecord?.explicit).toBe(true);
      if (runId !== undefined) {
        const rejections = await consentRejections(runId);
        const revoked = { requires: 'data_sharing', consent: 'revoked' };
        if (expected.revoked) {
          const type = kind === 'flat grant' ? 'Patient' : 'Consent';
          expect(rejections, `${kinds.join(' → ')}: ${kind} revoked`).toEqual([
            [type, 'consent', revoked],
          ]);
          expect(await denials(runId)).toEqual([
            [
              type,
              {
                stage: 'consentCheck',
                recordIndex: 0,
                reason: 'consent',
                consent: 'revoked',
              },
            ],
          ]);
          // A refused grant is its rejection and its DENY row, not a decision in history.
          expect(await historyLength(subject.id)).toBe(historyBefore);
        } else if (kind !== 'flat refusal') {
          expect(rejections, `${kinds.join(' → ')}: ${kind}`).toEqual([]);
        }
      }
      standing = expected.standing;
    }
    expect(await readStatus(subject.id), kinds.join(' → ')).toBe(
      standing === 'refusal' ? 403 : 200,
    );
  }

  const pairs = KINDS.flatMap((first) => KINDS.map((second) => [first, second] as const));

  it.each(pairs)('%s, then %s', async (first, second) => {
    await expectPrecedence([first, second]);
  });

  it.each([
    ['API refusal', 'API grant', 'flat grant'],
    ['flat refusal', 'FHIR permit dated after', 'FHIR deny dated before'],
    ['FHIR deny dated before', 'FHIR permit dated before', 'flat grant'],
    ['FHIR deny dated after', 'flat grant', 'API grant'],
    ['API grant', 'flat refusal', 'FHIR permit dated before'],
    ['flat grant', 'FHIR deny dated before', 'FHIR permit dated after'],
  ] as const)('%s, then %s, then %s', async (...kinds) => {
    await expectPrecedence(kinds);
  });

  it.each([
    ['the same flat record', undefined],
    ['the record with other PHI', { name: 'Portia Resent', ssn: '999-56-7878' }],
  ] as const)(
    'the issue: %s re-sent with a grant after a portal revocation is a revoked rejection, and the read stays refused',
    async (_, changed) => {
      // Prepare
      const mrn = unique('MRN-PREC-ISSUE');
      const record = flatRecord({ mrn, name: 'Portia Revokes', ssn: '999-12-3434' });
      const first = await pipeline.ingest([record], SENDER);
      expect(first.execution.status).toBe('SUCCEEDED');
      const { rows } = await database.pool.query<{ id: string }>(
        'SELECT id FROM patients WHERE created_run_id = $1',
        [first.runId],
      );
      const id = rows[0]!.id;
      await changeConsent(pipeline.deps, 'user:portal', id, {
        data_sharing: false,
        source: 'patient-portal',
      });
      const patientRow = async () =>
        (await database.pool.query('SELECT * FROM patients WHERE id = $1', [id])).rows;
      const stored = await patientRow();

      // Act
      const { runId, execution } = await pipeline.ingest(
        [{ ...record, ...changed, consent: { data_sharing: true } }],
        SENDER,
      );

      // Assess
      expect(execution.status).toBe('SUCCEEDED');
      expect((await findIngestRun(database.pool, runId))?.counts).toMatchObject({
        consented: 0,
        blocked: 1,
        rejected: 1,
        loaded: 0,
      });
      expect(await consentRejections(runId)).toEqual([
        ['Patient', 'consent', { requires: 'data_sharing', consent: 'revoked' }],
      ]);
      expect(await denials(runId)).toEqual([
        [
          'Patient',
          { stage: 'consentCheck', recordIndex: 0, reason: 'consent', consent: 'revoked' },
        ],
      ]);
      const { rows: history } = await database.pool.query<{
        data_sharing: boolean;
        source: string;
      }>('SELECT data_sharing, source FROM consent_history WHERE patient_id = $1 ORDER BY id', [
        id,
      ]);
      expect(history).toEqual([
        { data_sharing: true, source: 'ingest' },
        { data_sharing: false, source: 'patient-portal' },
      ]);
      expect(await readStatus(id)).toBe(403);
      // The refused record never got past the consent stage: the stored row is as it was.
      expect(await patientRow()).toStrictEqual(stored);
      const { cells } = await sweepDatabase(database.pool);
      expect(occurrences(cells, ['Portia Resent', '999-56-7878'])).toEqual([]);
    },
  );

  it.each([
    ['dated before the refusal', LONG_AGO, 403, 'refused'],
    ['dated after the refusal', undefined, 200, undefined],
  ] as const)(
    'a Consent that waited for its patient, %s, is weighed against the refusal on record when the patient arrives',
    async (_, dateTime, status, patientConsent) => {
      // Prepare: the patient is known by MRN and refused; the new sender's permit waits for its Patient.
      const mrn = unique('MRN-PREC-WAIT');
      const { runId: storedRun } = await pipeline.ingest([flatRecord({ mrn })], SENDER);
      const { rows } = await database.pool.query<{ id: string }>(
        'SELECT id FROM patients WHERE created_run_id = $1',
        [storedRun],
      );
      const id = rows[0]!.id;
      await changeConsent(pipeline.deps, 'user:portal', id, { data_sharing: false });
      const fhirId = unique('pat');
      const waiting = await pipeline.ingestBody(
        ndjson([
          consentFor(`Patient/${fhirId}`, { dateTime: dateTime ?? new Date().toISOString() }),
        ]),
        'application/fhir+ndjson',
        'system:other-feed',
      );
      expect((await findIngestRun(database.pool, waiting.runId))?.counts).toMatchObject({
        consentsPending: 1,
      });

      // Act
      const { runId } = await pipeline.ingestBody(
        ndjson([patientResource(fhirId, mrn, 'Waited')]),
        'application/fhir+ndjson',
        'system:other-feed',
      );

      // Assess
      expect(await readStatus(id)).toBe(status);
      expect((await consentOf(id))?.data_sharing).toBe(status === 200);
      expect(await consentRejections(runId)).toEqual(
        patientConsent === undefined
          ? []
          : [['Patient', 'consent', { requires: 'data_sharing', consent: patientConsent }]],
      );
    },
  );

  describe('through the API', () => {
    it('a grant dated no later than the refusal on record is a 409 and a DENY row with the actor and the source', async () => {
      // Prepare
      const subject = await storedPatient();
      const refusedAt = new Date(Date.now() - 60_000);
      await changeConsent(pipeline.deps, 'user:portal', subject.id, {
        data_sharing: false,
        source: 'patient-portal',
        recordedAt: refusedAt.toISOString(),
      });
      const officer = unique('user:officer');

      // Act
      const conflict = await thrownBy(() =>
        changeConsent(pipeline.deps, officer, subject.id, {
          data_sharing: true,
          source: 'paper-form',
          recordedAt: refusedAt.toISOString(),
        }),
      );

      // Assess
      expect(conflict).toBeInstanceOf(ConflictError);
      expect((conflict as Error).message).toMatch(/dated after the refusal/);
      expect((await consentOf(subject.id))?.data_sharing).toBe(false);
      const { rows } = await database.pool.query(
        `SELECT action, resource_type, resource_id, outcome, details FROM audit_log
         WHERE actor = $1 ORDER BY seq`,
        [officer],
      );
      expect(rows).toEqual([
        {
          action: 'DENY',
          resource_type: 'Consent',
          resource_id: subject.id,
          outcome: 'denied',
          details: {
            reason: 'consent-revoked',
            source: 'paper-form',
            dataSharing: true,
            recordedAt: refusedAt.toISOString(),
          },
        },
      ]);
      expect(await readStatus(subject.id)).toBe(403);
    });

    it('a refusal dated before a feed grant on record takes effect at its own date; one dated before an explicit grant is a 409', async () => {
      // Prepare
      const subject = await storedPatient();
      const decidedAt = new Date(Date.now() - 3_600_000).toISOString();

      // Act: the feed grant has no date of its own, so the older refusal still stands.
      await changeConsent(pipeline.deps, 'user:portal', subject.id, {
        data_sharing: false,
        recordedAt: decidedAt,
      });
      const refused = await consentOf(subject.id);
      await changeConsent(pipeline.deps, 'user:portal', subject.id, { data_sharing: true });
      const older = await thrownBy(() =>
        changeConsent(pipeline.deps, 'user:portal', subject.id, {
          data_sharing: false,
          recordedAt: decidedAt,
        }),
      );

      // Assess
      expect(refused).toEqual({ data_sharing: false, source: 'api', explicit: true });
      expect(older).toBeInstanceOf(ConflictError);
      expect((older as Error).message).toMatch(/more recent/);
      expect(await readStatus(subject.id)).toBe(200);
    });

    it('a change for no such patient is a 404 and a failed UPDATE row with the actor and the source', async () => {
      // Prepare
      const officer = unique('user:officer');
      const missing = randomUUID();

      // Act
      const notFound = await thrownBy(() =>
        changeConsent(pipeline.deps, officer, missing, { data_sharing: true, source: 'kiosk' }),
      );

      // Assess
      expect((notFound as { statusCode?: number }).statusCode).toBe(404);
      const { rows } = await database.pool.query(
        'SELECT action, resource_id, outcome, details FROM audit_log WHERE actor = $1',
        [officer],
      );
      expect(rows).toEqual([
        {
          action: 'UPDATE',
          resource_id: missing,
          outcome: 'failure',
          details: { reason: 'not-found', source: 'kiosk', dataSharing: true },
        },
      ]);
    });
  });
});
