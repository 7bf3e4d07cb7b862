import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { queryAudit } from '../../../lib/audit/auditQueries.ts';
import { findIngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import { listRejections } from '../../../lib/db/repositories/rejections.ts';
import {
  ConflictError,
  ForbiddenError,
  InputValidationError,
  NotFoundError,
} from '../../../lib/errors.ts';
import { isUuid } from '../../../lib/ids.ts';
import { changeConsent } from '../../../lib/patients/consentChanges.ts';
import { findPatientsByMrn, readPatient } from '../../../lib/patients/patientAccess.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { occurrences, sweepDatabase } from '../../helpers/databaseSweep.ts';
import { flatRecord, useTestPipeline } from '../../helpers/pipeline.ts';
import { thrownBy } from '../../helpers/thrown.ts';

interface ConsentRecord {
  data_sharing: boolean;
  research: boolean;
  source: string;
  recorded_at: Date;
  recorded_by: string;
  run_id: string | null;
}

interface AuditRecord {
  action: string;
  resource_type: string;
  resource_id: string | null;
  run_id: string | null;
  outcome: string;
  details: Record<string, unknown>;
}

const CONSENT_COLUMNS = 'data_sharing, research, source, recorded_at, recorded_by, run_id';

/** A name no other test uses: MRNs and actors of each test stay apart in the shared database. */
const unique = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;

describe('consent changes', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);

  /** Ingests one consented patient through the real ASL; returns its id and the run. */
  async function ingestPatient(
    overrides: Record<string, unknown>,
  ): Promise<{ id: string; runId: string }> {
    const { runId, execution } = await pipeline.ingest([flatRecord(overrides)]);
    expect(execution.status).toBe('SUCCEEDED');
    const { rows } = await database.pool.query<{ id: string }>(
      'SELECT id FROM patients WHERE created_run_id = $1',
      [runId],
    );
    expect(rows).toHaveLength(1);
    return { id: rows[0]!.id, runId };
  }

  async function consentOf(patientId: string): Promise<ConsentRecord | undefined> {
    const { rows } = await database.pool.query<ConsentRecord>(
      `SELECT ${CONSENT_COLUMNS} FROM consents WHERE patient_id = $1`,
      [patientId],
    );
    return rows[0];
  }

  async function historyOf(patientId: string): Promise<ConsentRecord[]> {
    const { rows } = await database.pool.query<ConsentRecord>(
      `SELECT ${CONSENT_COLUMNS} FROM consent_history WHERE patient_id = $1 ORDER BY id`,
      [patientId],
    );
    return rows;
  }

  /** Audit rows written by one actor: each test acts as actors of its own. */
  async function auditBy(actor: string): Promise<AuditRecord[]> {
    const { rows } = await database.pool.query<AuditRecord>(
      `SELECT action, resource_type, resource_id, run_id, outcome, details
       FROM audit_log WHERE actor = $1 ORDER BY seq`,
      [actor],
    );
    return rows;
  }

  async function auditOfRun(runId: string, resourceType: string): Promise<AuditRecord[]> {
    const { rows } = await database.pool.query<AuditRecord>(
      `SELECT action, resource_type, resource_id, run_id, outcome, details
       FROM audit_log WHERE run_id = $1 AND resource_type = $2 ORDER BY seq`,
      [runId, resourceType],
    );
    return rows;
  }

  /** The stored patient row, PHI ciphertext and all: unchanged means byte for byte. */
  async function patientRow(patientId: string): Promise<Record<string, unknown>> {
    const { rows } = await database.pool.query('SELECT * FROM patients WHERE id = $1', [patientId]);
    expect(rows).toHaveLength(1);
    return rows[0] as Record<string, unknown>;
  }

  describe('through changeConsent', () => {
    it('a revocation takes effect on the next read: by id and by MRN refused, each with one DENY row', async () => {
      // Prepare
      const mrn = 'MRN-CC-REVOKE-1';
      const { id } = await ingestPatient({ mrn, name: 'Vera Revokes' });
      const reader = 'user:clinician-cc-revoke';
      const before = await readPatient(pipeline.deps, reader, id);

      // Act
      const view = await changeConsent(pipeline.deps, 'user:officer-cc-revoke', id, {
        data_sharing: false,
      });

      // Assess
      expect(before.consent.dataSharing).toBe(true);
      expect(view).toMatchObject({
        patientId: id,
        dataSharing: false,
        research: false,
        source: 'api',
        recordedBy: 'user:officer-cc-revoke',
      });
      const byId = await thrownBy(() => readPatient(pipeline.deps, reader, id));
      const byMrn = await findPatientsByMrn(pipeline.deps, reader, mrn);
      expect(byId).toBeInstanceOf(ForbiddenError);
      expect(byMrn).toEqual([]);
      expect(
        (await auditBy(reader)).map((row) => [
          row.action,
          row.resource_id,
          row.outcome,
          row.details,
        ]),
      ).toEqual([
        ['READ', id, 'success', { via: 'id' }],
        ['DENY', id, 'denied', { reason: 'consent', via: 'id' }],
        ['DENY', id, 'denied', { reason: 'consent', via: 'mrn' }],
      ]);
    });

    it('a grant after a revocation makes the patient readable again on the next read', async () => {
      // Prepare
      const mrn = 'MRN-CC-REGRANT-1';
      const { id } = await ingestPatient({ mrn, name: 'Gil Regrants' });
      const officer = 'user:officer-cc-regrant';
      const reader = 'user:clinician-cc-regrant';
      await changeConsent(pipeline.deps, officer, id, { data_sharing: false });
      const refused = await thrownBy(() => readPatient(pipeline.deps, reader, id));

      // Act
      const granted = await changeConsent(pipeline.deps, officer, id, { data_sharing: true });

      // Assess
      expect(refused).toBeInstanceOf(ForbiddenError);
      const view = await readPatient(pipeline.deps, reader, id);
      expect(view).toMatchObject({
        id,
        mrn,
        name: 'Gil Regrants',
        consent: { dataSharing: true, research: false, recordedAt: granted.recordedAt },
      });
      expect(await findPatientsByMrn(pipeline.deps, reader, mrn)).toHaveLength(1);
      expect((await auditBy(reader)).map((row) => [row.action, row.outcome])).toEqual([
        ['DENY', 'denied'],
        ['READ', 'success'],
        ['READ', 'success'],
      ]);
    });

    it.each([
      [
        'a revocation from a paper form, with its time',
        { data_sharing: false, source: 'paper-form' },
        { dataSharing: false, research: false, source: 'paper-form' },
        true,
      ],
      [
        'a research opt-in alone, data sharing kept as it was',
        { research: true },
        { dataSharing: true, research: true, source: 'api' },
        false,
      ],
      [
        'a decision identical to the one on record',
        { data_sharing: true, research: false },
        { dataSharing: true, research: false, source: 'api' },
        false,
      ],
    ])(
      '%s appends exactly one history row and one UPDATE Consent audit row',
      async (_, change, expected, withTime) => {
        // Prepare
        const { id } = await ingestPatient({ mrn: unique('MRN-CC-ONE') });
        const actor = unique('user:officer-cc-one');
        const historyBefore = await historyOf(id);
        const decidedAt = new Date();
        const body = withTime ? { ...change, recordedAt: decidedAt.toISOString() } : change;
        const calledAt = new Date();

        // Act
        const view = await changeConsent(pipeline.deps, actor, id, body);

        // Assess
        const returnedAt = new Date();
        const recordedAt = new Date(view.recordedAt);
        if (withTime) {
          expect(recordedAt).toEqual(decidedAt);
        } else {
          expect(recordedAt.getTime()).toBeGreaterThanOrEqual(calledAt.getTime());
          expect(recordedAt.getTime()).toBeLessThanOrEqual(returnedAt.getTime());
        }
        const current = {
          data_sharing: expected.dataSharing,
          research: expected.research,
          source: expected.source,
          recorded_at: recordedAt,
          recorded_by: actor,
          run_id: null,
        };
        expect(view).toStrictEqual({
          patientId: id,
          ...expected,
          recordedAt: recordedAt.toISOString(),
          recordedBy: actor,
        });
        expect(await consentOf(id)).toStrictEqual(current);
        const history = await historyOf(id);
        expect(history).toHaveLength(historyBefore.length + 1);
        expect(history.slice(0, -1)).toStrictEqual(historyBefore);
        expect(history.at(-1)).toStrictEqual(current);
        expect(await auditBy(actor)).toStrictEqual([
          {
            action: 'UPDATE',
            resource_type: 'Consent',
            resource_id: id,
            run_id: null,
            outcome: 'success',
            details: {
              dataSharing: expected.dataSharing,
              research: expected.research,
              source: expected.source,
              recordedAt: recordedAt.toISOString(),
            },
          },
        ]);
      },
    );

    it('records the first decision of a patient with no consent on record as one CREATE', async () => {
      // Prepare
      const { id } = await ingestPatient({ mrn: 'MRN-CC-FIRST-1' });
      // A patient stored without a consent row (as a FHIR Patient without a Consent would be).
      await database.pool.query('DELETE FROM consents WHERE patient_id = $1', [id]);
      const historyBefore = await historyOf(id);
      const actor = 'user:officer-cc-first';

      // Act
      const view = await changeConsent(pipeline.deps, actor, id, {
        data_sharing: true,
        source: 'patient-portal',
      });

      // Assess
      expect(view).toMatchObject({ dataSharing: true, research: false, source: 'patient-portal' });
      expect(await consentOf(id)).toMatchObject({
        data_sharing: true,
        research: false,
        source: 'patient-portal',
        recorded_by: actor,
      });
      expect(await historyOf(id)).toHaveLength(historyBefore.length + 1);
      const audit = await auditBy(actor);
      expect(audit.map((row) => [row.action, row.resource_type, row.resource_id])).toEqual([
        ['CREATE', 'Consent', id],
      ]);
      expect(Object.keys(audit[0]!.details).sort()).toEqual([
        'dataSharing',
        'recordedAt',
        'research',
        'source',
      ]);
    });

    it.each([
      ['a grant a minute older than the ingested grant', 'ingest', -60_000, true],
      ['a grant a millisecond older than the ingested grant', 'ingest', -1, true],
      ['a refusal a millisecond older than an earlier change', 'change', -1, false],
      ['a grant a millisecond older than an earlier change', 'change', -1, true],
    ])(
      'refuses %s with ConflictError, changing nothing but its DENY row',
      async (_, on, offsetMs, dataSharing) => {
        // Prepare
        const { id } = await ingestPatient({ mrn: unique('MRN-CC-OLD') });
        const officer = unique('user:officer-cc-old');
        if (on === 'change') {
          // An explicit grant: a research-only change would leave the feed's grant undated.
          await changeConsent(pipeline.deps, officer, id, {
            data_sharing: true,
            research: true,
            recordedAt: new Date().toISOString(),
          });
        }
        const onRecord = (await consentOf(id))!;
        const historyBefore = await historyOf(id);
        const auditBefore = await auditBy(officer);
        // The driver truncates the stored microseconds: this is older by at least offsetMs.
        const older = new Date(onRecord.recorded_at.getTime() + offsetMs);

        // Act
        const error = await thrownBy(() =>
          changeConsent(pipeline.deps, officer, id, {
            data_sharing: dataSharing,
            recordedAt: older.toISOString(),
          }),
        );

        // Assess
        expect(error).toBeInstanceOf(ConflictError);
        expect((error as ConflictError).statusCode).toBe(409);
        expect(await consentOf(id)).toStrictEqual(onRecord);
        expect(await historyOf(id)).toStrictEqual(historyBefore);
        expect(await auditBy(officer)).toStrictEqual([
          ...auditBefore,
          {
            action: 'DENY',
            resource_type: 'Consent',
            resource_id: id,
            run_id: null,
            outcome: 'denied',
            details: {
              reason: 'newer-decision',
              source: 'api',
              dataSharing,
              recordedAt: older.toISOString(),
            },
          },
        ]);
        expect(
          (await readPatient(pipeline.deps, `${officer}-reader`, id)).consent.dataSharing,
        ).toBe(true);
      },
    );

    it('dates a decision a client dated ahead of this clock at its arrival, so that a refusal made just after it stands', async () => {
      // Prepare
      const { id } = await ingestPatient({ mrn: 'MRN-CC-AHEAD' });
      const officer = 'user:officer-cc-ahead';
      const before = Date.now();
      const ahead = await changeConsent(pipeline.deps, officer, id, {
        data_sharing: true,
        recordedAt: new Date(before + 4 * 60_000).toISOString(),
      });

      // Act
      const refusal = await changeConsent(pipeline.deps, officer, id, { data_sharing: false });

      // Assess
      expect(new Date(ahead.recordedAt).getTime()).toBeLessThanOrEqual(Date.now());
      expect(refusal).toMatchObject({ dataSharing: false });
      expect(await consentOf(id)).toMatchObject({ data_sharing: false });
    });

    it('keeps a fed grant undated through a research-only change: a refusal dated before the change still takes effect', async () => {
      // Prepare: the feed's grant (undated), then research granted through the API
      const { id } = await ingestPatient({ mrn: 'MRN-CC-RESEARCH-ONLY' });
      const officer = 'user:officer-cc-research-only';
      const decidedBefore = new Date(Date.now() - 1000).toISOString();
      await changeConsent(pipeline.deps, officer, id, { research: true });

      // Act: a paper refusal, dated a second before the research change, recorded after it
      const refusal = await changeConsent(pipeline.deps, officer, id, {
        data_sharing: false,
        source: 'paper-form',
        recordedAt: decidedBefore,
      });

      // Assess
      expect(refusal).toMatchObject({ dataSharing: false, research: true });
      expect(await consentOf(id)).toMatchObject({ data_sharing: false, source: 'paper-form' });
    });

    it('accepts a decision made at the very instant of the one on record', async () => {
      // Prepare
      const { id } = await ingestPatient({ mrn: 'MRN-CC-SAME-INSTANT' });
      const officer = 'user:officer-cc-same-instant';
      const first = await changeConsent(pipeline.deps, officer, id, {
        research: true,
        recordedAt: new Date().toISOString(),
      });

      // Act
      const second = await changeConsent(pipeline.deps, officer, id, {
        data_sharing: false,
        recordedAt: first.recordedAt,
      });

      // Assess
      expect(second).toMatchObject({ dataSharing: false, research: true });
      expect(await consentOf(id)).toMatchObject({ data_sharing: false, research: true });
      expect((await auditBy(officer)).map((row) => row.action)).toEqual(['UPDATE', 'UPDATE']);
    });

    it.each([
      ['an empty object', {}, []],
      ['a data_sharing that is not a boolean', { data_sharing: 'yes' }, ['yes']],
      ['an unknown key', { 'Jane Doe': true }, ['Jane Doe']],
      [
        'an unknown key beside a valid change',
        { data_sharing: false, '123-45-6789': 'MRN-001' },
        ['123-45-6789', 'MRN-001'],
      ],
      [
        'a date that is no date-time',
        { data_sharing: false, recordedAt: 'Jane Doe yesterday' },
        ['Jane Doe yesterday'],
      ],
      [
        'a date-time that does not exist',
        { data_sharing: false, recordedAt: '2024-02-30T10:00:00Z' },
        ['2024-02-30'],
      ],
      [
        'a date-time without a time zone',
        { data_sharing: false, recordedAt: '2024-03-01T10:00:00' },
        ['2024-03-01'],
      ],
      [
        'a decision an hour in the future',
        { data_sharing: false, recordedAt: new Date(Date.now() + 3_600_000).toISOString() },
        [],
      ],
      ['a source with spaces', { data_sharing: false, source: 'Jane Doe' }, ['Jane Doe']],
      ['a source of capitals', { data_sharing: false, source: 'PORTAL' }, ['PORTAL']],
      ['an array', [{ data_sharing: false }], []],
      ['null', null, []],
      ['a string', 'Jane Doe', ['Jane Doe']],
    ])(
      'refuses %s with InputValidationError that echoes neither keys nor values',
      async (_, body, needles) => {
        // Prepare
        const { id } = await ingestPatient({ mrn: unique('MRN-CC-BAD') });
        const actor = unique('user:officer-cc-bad');
        const onRecord = await consentOf(id);
        const historyBefore = await historyOf(id);

        // Act
        const error = await thrownBy(() => changeConsent(pipeline.deps, actor, id, body));

        // Assess
        expect(error).toBeInstanceOf(InputValidationError);
        const invalid = error as InputValidationError;
        expect(invalid.statusCode).toBe(400);
        expect(invalid.problems.length).toBeGreaterThan(0);
        for (const problem of invalid.problems) {
          expect(Object.keys(problem).sort()).toEqual(['keyword', 'message', 'path']);
        }
        const said = JSON.stringify({ message: invalid.message, problems: invalid.problems });
        for (const needle of needles) expect(said).not.toContain(needle);
        expect(await consentOf(id)).toStrictEqual(onRecord);
        expect(await historyOf(id)).toStrictEqual(historyBefore);
        expect(await auditBy(actor)).toEqual([]);
      },
    );

    it.each([
      ['/data_sharing', { data_sharing: 'yes' }],
      ['/recordedAt', { data_sharing: true, recordedAt: 'yesterday' }],
      ['/source', { data_sharing: true, source: 'paper form' }],
    ])('names the failing path %s of a known property', async (path, body) => {
      // Act
      const error = await thrownBy(() =>
        changeConsent(pipeline.deps, 'user:officer-cc-path', randomUUID(), body),
      );

      // Assess
      expect(error).toBeInstanceOf(InputValidationError);
      const paths = (error as InputValidationError).problems.map((problem) => problem.path);
      expect(paths).toContain(path);
      // Besides the property, only the body as a whole ('') may be named.
      expect(paths.filter((named) => named !== path && named !== '')).toEqual([]);
    });

    it.each([
      ['an unknown patient id', randomUUID()],
      ['an id that is no uuid', 'Jane Doe'],
    ])(
      'answers %s with NotFoundError, recording only its failed UPDATE row',
      async (_, patientId) => {
        // Prepare
        const actor = unique('user:officer-cc-unknown');
        const before = await database.pool.query<{ consents: number; history: number }>(
          `SELECT (SELECT count(*)::int FROM consents) AS consents,
                (SELECT count(*)::int FROM consent_history) AS history`,
        );

        // Act
        const error = await thrownBy(() =>
          changeConsent(pipeline.deps, actor, patientId, { data_sharing: true }),
        );

        // Assess
        expect(error).toBeInstanceOf(NotFoundError);
        expect((error as NotFoundError).statusCode).toBe(404);
        expect((error as NotFoundError).message).not.toContain(patientId);
        const after = await database.pool.query<{ consents: number; history: number }>(
          `SELECT (SELECT count(*)::int FROM consents) AS consents,
                (SELECT count(*)::int FROM consent_history) AS history`,
        );
        expect(after.rows).toEqual(before.rows);
        expect(await auditBy(actor)).toEqual([
          {
            action: 'UPDATE',
            resource_type: 'Consent',
            resource_id: isUuid(patientId) ? patientId : null,
            run_id: null,
            outcome: 'failure',
            details: { reason: 'not-found', source: 'api', dataSharing: true },
          },
        ]);
      },
    );

    it.each([
      ['a leap second', '2016-12-31T23:59:60Z'],
      ['a leap second in another zone', '2017-01-01T00:59:60+01:00'],
      ['an hour-only offset', '2024-01-01T10:00:00+01'],
    ])(
      'refuses a recordedAt the schema accepts but Date cannot read (%s) on /recordedAt, a 400',
      async (_, recordedAt) => {
        // Prepare
        const { id } = await ingestPatient({
          mrn: `MRN-LEAP-${recordedAt.length}-${recordedAt.slice(-3)}`,
        });
        const before = await database.pool.query('SELECT * FROM consents WHERE patient_id = $1', [
          id,
        ]);

        // Act
        const error = await thrownBy(() =>
          changeConsent(pipeline.deps, 'user:officer-leap', id, {
            data_sharing: false,
            recordedAt,
          }),
        );

        // Assess
        expect(error).toBeInstanceOf(InputValidationError);
        expect((error as InputValidationError).problems.map((problem) => problem.path)).toContain(
          '/recordedAt',
        );
        const after = await database.pool.query('SELECT * FROM consents WHERE patient_id = $1', [
          id,
        ]);
        expect(after.rows).toEqual(before.rows);
      },
    );

    it('audits a change to a patient id given in capitals under the canonical id', async () => {
      // Prepare
      const { id } = await ingestPatient({ mrn: 'MRN-CASE-CONSENT' });
      const officer = 'user:officer-case';

      // Act
      const view = await changeConsent(pipeline.deps, officer, id.toUpperCase(), {
        data_sharing: false,
      });

      // Assess
      const audit = await database.pool.query<{ resource_id: string }>(
        'SELECT resource_id FROM audit_log WHERE actor = $1',
        [officer],
      );
      expect(audit.rows).toEqual([{ resource_id: id }]);
      const page = await queryAudit(pipeline.deps, 'system:auditor', {
        patient: id,
        actor: officer,
      });
      expect(page.data.map((row) => [row.action, row.resourceType])).toEqual([
        ['UPDATE', 'Consent'],
      ]);
      expect(view.patientId).toBe(id);
    });
  });

  describe('through re-ingested batches', () => {
    it('a later batch refusing consent withdraws it: revoked 1, a consent rejection, PHI unchanged, reads refused', async () => {
      // Prepare
      const mrn = 'MRN-CC-BATCH-REFUSE';
      const { id } = await ingestPatient({ mrn, name: 'Bea Batchrefuser' });
      const stored = await patientRow(id);
      const historyBefore = await historyOf(id);
      const reader = 'user:clinician-cc-batch-refuse';

      // Act: the refusing record carries other PHI, which must not be stored
      const { runId, execution } = await pipeline.ingest(
        [
          flatRecord({
            mrn,
            name: 'Bea Renamedbyrefusal',
            ssn: '999-88-7766',
            consent: { data_sharing: false },
          }),
        ],
        'system:feed-refusing',
      );

      // Assess
      expect(execution.status).toBe('SUCCEEDED');
      const run = await findIngestRun(database.pool, runId);
      expect(run?.status).toBe('succeeded');
      expect(run?.counts['revoked']).toBe(1);
      expect(run?.counts).toMatchObject({ consented: 0, blocked: 1, rejected: 1, loaded: 0 });
      expect(
        (await listRejections(database.pool, runId)).map((r) => [
          r.recordIndex,
          r.reason,
          r.details,
        ]),
      ).toEqual([[0, 'consent', { requires: 'data_sharing', consent: 'refused' }]]);
      expect(await patientRow(id)).toStrictEqual(stored);
      expect(await consentOf(id)).toStrictEqual({
        data_sharing: false,
        research: false,
        source: 'ingest',
        recorded_at: run!.createdAt,
        recorded_by: 'system:feed-refusing',
        run_id: runId,
      });
      expect(await historyOf(id)).toHaveLength(historyBefore.length + 1);
      expect(
        (await auditOfRun(runId, 'Consent')).map((row) => [row.action, row.resource_id]),
      ).toEqual([['UPDATE', id]]);
      expect(await thrownBy(() => readPatient(pipeline.deps, reader, id))).toBeInstanceOf(
        ForbiddenError,
      );
      expect(await findPatientsByMrn(pipeline.deps, reader, mrn)).toEqual([]);
      const { cells } = await sweepDatabase(database.pool);
      expect(occurrences(cells, ['Bea Renamedbyrefusal', '999-88-7766'])).toEqual([]);
    });

    it('a newer batch granting data sharing again is a revoked rejection; only an explicit grant restores it', async () => {
      // Prepare
      const mrn = 'MRN-CC-BATCH-REGRANT';
      const { id } = await ingestPatient({ mrn, name: 'Rory Regranted' });
      const refusing = await pipeline.ingest([
        flatRecord({ mrn, consent: { data_sharing: false } }),
      ]);
      const refusedRead = await thrownBy(() =>
        readPatient(pipeline.deps, 'user:clinician-cc-batch-regrant', id),
      );

      // Act
      const { runId, execution } = await pipeline.ingest([
        flatRecord({
          mrn,
          name: 'Rory Regranted',
          consent: { data_sharing: true, research: true },
        }),
      ]);

      // Assess: the feed's grant has no date of its own, so the refusal stands.
      expect(refusing.execution.status).toBe('SUCCEEDED');
      expect(refusedRead).toBeInstanceOf(ForbiddenError);
      expect(execution.status).toBe('SUCCEEDED');
      expect(
        (await listRejections(database.pool, runId)).map((r) => [r.reason, r.details]),
      ).toEqual([['consent', { requires: 'data_sharing', consent: 'revoked' }]]);
      expect(await consentOf(id)).toMatchObject({
        data_sharing: false,
        source: 'ingest',
        run_id: refusing.runId,
      });
      expect(await auditOfRun(runId, 'Consent')).toEqual([]);
      expect(
        await thrownBy(() => readPatient(pipeline.deps, 'user:clinician-cc-batch-regrant', id)),
      ).toBeInstanceOf(ForbiddenError);
      await changeConsent(pipeline.deps, 'user:officer-cc-batch-regrant', id, {
        data_sharing: true,
        source: 'paper-form',
      });
      const view = await readPatient(pipeline.deps, 'user:clinician-cc-batch-regrant', id);
      expect(view).toMatchObject({
        id,
        mrn,
        name: 'Rory Regranted',
        consent: { dataSharing: true },
      });
    });

    it.each([
      ['a batch refusing consent after an API grant', true, false],
      ['a batch granting consent after an API revocation', false, true],
    ])(
      '%s, run created before the API decision, leaves the API decision standing',
      async (_, apiDataSharing, batchDataSharing) => {
        // Prepare
        const mrn = unique('MRN-CC-STALE');
        const { id } = await ingestPatient({ mrn });
        const runId = await pipeline.submit([
          flatRecord({ mrn, consent: { data_sharing: batchDataSharing } }),
        ]);
        const createdAt = (await findIngestRun(database.pool, runId))!.createdAt;
        // Decided after the run was created, and not ahead of the clock (that would be dated now).
        while (Date.now() <= createdAt.getTime()) await new Promise((done) => setTimeout(done, 5));
        const decidedAt = new Date();
        const officer = unique('user:officer-cc-stale');
        await changeConsent(pipeline.deps, officer, id, {
          data_sharing: apiDataSharing,
          research: true,
          source: 'patient-portal',
          recordedAt: decidedAt.toISOString(),
        });
        const historyBefore = await historyOf(id);

        // Act
        const execution = await pipeline.workflow.execute(runId);

        // Assess
        expect(execution.status).toBe('SUCCEEDED');
        const run = await findIngestRun(database.pool, runId);
        expect(run?.counts['revoked'] ?? 0).toBe(0);
        expect(await consentOf(id)).toStrictEqual({
          data_sharing: apiDataSharing,
          research: true,
          source: 'patient-portal',
          recorded_at: decidedAt,
          recorded_by: officer,
          run_id: null,
        });
        expect(await historyOf(id)).toStrictEqual(historyBefore);
        expect(await auditOfRun(runId, 'Consent')).toEqual([]);
        const read = () => readPatient(pipeline.deps, `${officer}-reader`, id);
        if (apiDataSharing) expect((await read()).consent.dataSharing).toBe(true);
        else expect(await thrownBy(read)).toBeInstanceOf(ForbiddenError);
      },
    );
  });
});
