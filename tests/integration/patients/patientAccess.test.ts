import { describe, expect, it } from 'vitest';
import { ForbiddenError, InputValidationError, NotFoundError } from '../../../lib/errors.ts';
import { findPatientsByMrn, readPatient } from '../../../lib/patients/patientAccess.ts';
import { type TestDatabase, useTestDatabase } from '../../helpers/database.ts';
import { createTestPipeline, flatRecord, useTestPipeline } from '../../helpers/pipeline.ts';
import { thrownBy } from '../../helpers/thrown.ts';

interface AuditRecord {
  actor: string;
  action: string;
  resource_type: string;
  resource_id: string | null;
  run_id: string | null;
  outcome: string;
  details: Record<string, unknown>;
}

interface Phi {
  readonly mrn: string;
  readonly name: string;
  readonly birthDate: string;
  readonly ssn: string;
}

/** Every audit row written for one actor: each test reads as an actor of its own. */
async function auditRowsOf(database: TestDatabase, actor: string): Promise<AuditRecord[]> {
  const { rows } = await database.pool.query<AuditRecord>(
    `SELECT actor, action, resource_type, resource_id, run_id, outcome, details
     FROM audit_log WHERE actor = $1 ORDER BY seq`,
    [actor],
  );
  return rows;
}

function phiValues(phi: Phi): string[] {
  return [phi.mrn, phi.name, phi.birthDate, phi.ssn];
}

describe('patient access: consent-gated, audited reads', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);

  /** Ingests one consented patient through the real ASL and returns its id. */
  async function ingestPatient(phi: Phi): Promise<string> {
    const { runId, execution } = await pipeline.ingest([flatRecord({ ...phi })]);
    expect(execution.status).toBe('SUCCEEDED');
    const { rows } = await database.pool.query<{ id: string }>(
      'SELECT id FROM patients WHERE created_run_id = $1',
      [runId],
    );
    expect(rows).toHaveLength(1);
    return rows[0]!.id;
  }

  async function revokeConsent(patientId: string): Promise<void> {
    // Stands in for PUT /api/v1/patients/{id}/consent, which is not built yet.
    const { rowCount } = await database.pool.query(
      'UPDATE consents SET data_sharing = false WHERE patient_id = $1',
      [patientId],
    );
    expect(rowCount).toBe(1);
  }

  it.each([
    ['by id', 'id'],
    ['by MRN', 'mrn'],
  ] as const)('discloses a consented patient %s, with one READ audit row', async (_, via) => {
    // Prepare
    const phi: Phi = {
      mrn: `MRN-READ-${via.toUpperCase()}`,
      name: `Ada Reader${via === 'id' ? 'Byid' : 'Bymrn'}`,
      birthDate: via === 'id' ? '1971-03-04' : '1972-05-06',
      ssn: via === 'id' ? '111-22-3301' : '111-22-3302',
    };
    const id = await ingestPatient(phi);
    const actor = `user:clinician-read-${via}`;

    // Act
    const views =
      via === 'id'
        ? [await readPatient(pipeline.deps, actor, id)]
        : await findPatientsByMrn(pipeline.deps, actor, phi.mrn);

    // Assess
    expect(views).toHaveLength(1);
    expect(views[0]).toStrictEqual({
      id,
      mrn: phi.mrn,
      name: phi.name,
      birthDate: phi.birthDate,
      gender: 'female',
      ssn: phi.ssn,
      consent: { dataSharing: true, research: false, recordedAt: expect.any(String) },
    });
    expect(Number.isNaN(Date.parse(views[0]!.consent.recordedAt))).toBe(false);
    const audit = await auditRowsOf(database, actor);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      actor,
      action: 'READ',
      resource_type: 'Patient',
      resource_id: id,
      run_id: null,
      outcome: 'success',
      details: { via },
    });
    const details = JSON.stringify(audit[0]!.details);
    for (const value of phiValues(phi)) expect(details).not.toContain(value);
  });

  it('finds the patient by MRN only on the exact MRN', async () => {
    // Prepare
    const phi: Phi = {
      mrn: 'MRN-Case-7',
      name: 'Cas Sensitive',
      birthDate: '1980-01-02',
      ssn: '222-33-4405',
    };
    await ingestPatient(phi);
    const actor = 'user:clinician-case';

    // Act
    const exact = await findPatientsByMrn(pipeline.deps, actor, phi.mrn);
    const otherCase = await findPatientsByMrn(pipeline.deps, actor, phi.mrn.toUpperCase());

    // Assess
    expect(exact.map((view) => view.mrn)).toEqual([phi.mrn]);
    expect(otherCase).toEqual([]);
    expect((await auditRowsOf(database, actor)).map((row) => row.details)).toEqual([
      { via: 'mrn' },
      { via: 'mrn', matches: 0 },
    ]);
  });

  it('refuses a patient whose consent was revoked, by id, with a 403 and one DENY audit row', async () => {
    // Prepare
    const phi: Phi = {
      mrn: 'MRN-REVOKED-ID',
      name: 'Rex Revokedbyid',
      birthDate: '1965-07-08',
      ssn: '333-44-5501',
    };
    const id = await ingestPatient(phi);
    await revokeConsent(id);
    const actor = 'user:clinician-revoked-id';

    // Act
    const error = await thrownBy(() => readPatient(pipeline.deps, actor, id));

    // Assess
    expect(error).toBeInstanceOf(ForbiddenError);
    const forbidden = error as ForbiddenError;
    expect(forbidden.statusCode).toBe(403);
    for (const value of phiValues(phi)) expect(forbidden.message).not.toContain(value);
    const audit = await auditRowsOf(database, actor);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      actor,
      action: 'DENY',
      resource_type: 'Patient',
      resource_id: id,
      run_id: null,
      outcome: 'denied',
      details: { reason: 'consent', via: 'id' },
    });
    const details = JSON.stringify(audit[0]!.details);
    for (const value of phiValues(phi)) expect(details).not.toContain(value);
  });

  it('answers an MRN on file whose consent was revoked as one not on file, with a DENY audit row', async () => {
    // Prepare
    const phi: Phi = {
      mrn: 'MRN-REVOKED-MRN',
      name: 'Rex Revokedbymrn',
      birthDate: '1966-09-10',
      ssn: '333-44-5502',
    };
    const id = await ingestPatient(phi);
    await revokeConsent(id);
    const refusedActor = 'user:clinician-revoked-mrn';
    const absentActor = 'user:clinician-absent-mrn';

    // Act
    const refused = await findPatientsByMrn(pipeline.deps, refusedActor, phi.mrn);
    const absent = await findPatientsByMrn(pipeline.deps, absentActor, 'MRN-NEVER-ON-FILE');

    // Assess
    expect(refused).toEqual([]);
    expect(refused).toEqual(absent);
    const audit = await auditRowsOf(database, refusedActor);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      actor: refusedActor,
      action: 'DENY',
      resource_type: 'Patient',
      resource_id: id,
      run_id: null,
      outcome: 'denied',
      details: { reason: 'consent', via: 'mrn' },
    });
    const details = JSON.stringify(audit[0]!.details);
    for (const value of phiValues(phi)) expect(details).not.toContain(value);
    expect(await auditRowsOf(database, absentActor)).toMatchObject([
      {
        action: 'READ',
        resource_id: null,
        outcome: 'success',
        details: { via: 'mrn', matches: 0 },
      },
    ]);
  });

  it('discloses again once consent is granted again, on the next read', async () => {
    // Prepare
    const phi: Phi = {
      mrn: 'MRN-REGRANT-1',
      name: 'Greta Regrant',
      birthDate: '1990-11-12',
      ssn: '444-55-6601',
    };
    const id = await ingestPatient(phi);
    await revokeConsent(id);
    const actor = 'user:clinician-regrant';
    const refused = await thrownBy(() => readPatient(pipeline.deps, actor, id));
    await database.pool.query('UPDATE consents SET data_sharing = true WHERE patient_id = $1', [
      id,
    ]);

    // Act
    const view = await readPatient(pipeline.deps, actor, id);

    // Assess
    expect(refused).toBeInstanceOf(ForbiddenError);
    expect(view).toMatchObject({ id, mrn: phi.mrn, consent: { dataSharing: true } });
    expect(
      (await auditRowsOf(database, actor)).map((row) => [row.action, row.outcome, row.resource_id]),
    ).toEqual([
      ['DENY', 'denied', id],
      ['READ', 'success', id],
    ]);
  });

  it('waits for a revocation being committed and then refuses, never disclosing past it', async () => {
    // Prepare
    const phi: Phi = {
      mrn: 'MRN-RACE-1',
      name: 'Rita Race',
      birthDate: '1977-04-05',
      ssn: '666-77-8801',
    };
    const id = await ingestPatient(phi);
    const actor = 'user:clinician-race';
    const revoking = await database.pool.connect();
    await revoking.query('BEGIN');
    await revoking.query('UPDATE consents SET data_sharing = false WHERE patient_id = $1', [id]);
    let settled = false;

    // Act
    const read = thrownBy(() => readPatient(pipeline.deps, actor, id)).finally(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const settledBeforeCommit = settled;
    await revoking.query('COMMIT');
    revoking.release();

    // Assess
    expect(settledBeforeCommit).toBe(false);
    expect(await read).toBeInstanceOf(ForbiddenError);
    expect((await auditRowsOf(database, actor)).map((row) => [row.action, row.outcome])).toEqual([
      ['DENY', 'denied'],
    ]);
  });

  it.each([
    ['lower-case', '0b7e4c1a-5d2f-4e8a-9c3b-6f1d2e3a4b5c'],
    ['upper-case', 'C0FFEE00-1234-4ABC-8DEF-00112233AABB'],
  ])('answers an unknown %s uuid with NotFoundError and one READ failure row', async (_, id) => {
    // Prepare
    const actor = `user:clinician-unknown-${id.slice(0, 8)}`;

    // Act
    const error = await thrownBy(() => readPatient(pipeline.deps, actor, id));

    // Assess
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as NotFoundError).statusCode).toBe(404);
    const audit = await auditRowsOf(database, actor);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      actor,
      action: 'READ',
      resource_type: 'Patient',
      resource_id: id.toLowerCase(),
      outcome: 'failure',
      details: { reason: 'not-found', via: 'id' },
    });
  });

  it.each([
    ['SQL', '1; DROP TABLE patients'],
    ['a quote and SQL', "x'; DROP TABLE patients; --"],
    ['a uuid with a trailing newline', '0b7e4c1a-5d2f-4e8a-9c3b-6f1d2e3a4b5c\n'],
    ['an empty id', ''],
  ])(
    'answers a malformed id (%s) with NotFoundError, an audit row without it, and no harm',
    async (_, id) => {
      // Prepare
      const actor = `user:clinician-malformed-${id.length}`;
      const before = await database.pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM patients',
      );

      // Act
      const error = await thrownBy(() => readPatient(pipeline.deps, actor, id));

      // Assess
      expect(error).toBeInstanceOf(NotFoundError);
      if (id !== '') expect((error as NotFoundError).message).not.toContain(id);
      const audit = await auditRowsOf(database, actor);
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({
        action: 'READ',
        resource_id: null,
        outcome: 'failure',
        details: { reason: 'not-found', via: 'id' },
      });
      const { rows } = await database.pool.query<{ patients: string | null; n: number }>(
        `SELECT to_regclass('public.patients')::text AS patients,
              (SELECT count(*)::int FROM patients) AS n`,
      );
      expect(rows[0]).toEqual({ patients: 'patients', n: before.rows[0]!.n });
    },
  );

  it('answers an MRN that matches nobody with [] and one audit row with matches 0', async () => {
    // Prepare
    await ingestPatient({
      mrn: 'MRN-SOMEBODY-1',
      name: 'Sam Somebody',
      birthDate: '1955-02-03',
      ssn: '555-66-7701',
    });
    const actor = 'user:clinician-nobody';

    // Act
    const views = await findPatientsByMrn(pipeline.deps, actor, 'MRN-NOBODY-404');

    // Assess
    expect(views).toEqual([]);
    const audit = await auditRowsOf(database, actor);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      action: 'READ',
      resource_type: 'Patient',
      resource_id: null,
      outcome: 'success',
      details: { via: 'mrn', matches: 0 },
    });
    expect(JSON.stringify(audit[0]!.details)).not.toContain('MRN-NOBODY-404');
  });

  it.each([
    ['empty', '', []],
    ['65 characters long', `MRN-LONG-${'7'.repeat(56)}`, ['MRN-LONG-777']],
    ['with a newline', 'MRN-NEWLINE\nJane Doe', ['MRN-NEWLINE', 'Jane Doe']],
    ['with a NUL', 'MRN-NUL\u0000X', ['MRN-NUL']],
    ['with a leading space', ' MRN-SPACE-1', ['MRN-SPACE-1']],
  ])(
    'refuses an MRN %s with InputValidationError that does not echo it',
    async (_, mrn, needles) => {
      // Prepare
      const actor = `user:clinician-invalid-${mrn.length}`;

      // Act
      const error = await thrownBy(() => findPatientsByMrn(pipeline.deps, actor, mrn));

      // Assess
      expect(error).toBeInstanceOf(InputValidationError);
      const invalid = error as InputValidationError;
      expect(invalid.statusCode).toBe(400);
      expect(invalid.problems.length).toBeGreaterThan(0);
      expect(invalid.problems.map((problem) => problem.path)).toContain('/mrn');
      const said = JSON.stringify({ message: invalid.message, problems: invalid.problems });
      if (mrn !== '') expect(said).not.toContain(JSON.stringify(mrn).slice(1, -1));
      for (const needle of needles) expect(said).not.toContain(needle);
    },
  );

  it('accepts an MRN of exactly 64 characters (the limit), matching nobody', async () => {
    // Prepare
    const mrn = `MRN-EDGE-${'8'.repeat(55)}`;

    // Act
    const views = await findPatientsByMrn(pipeline.deps, 'user:clinician-edge', mrn);

    // Assess
    expect(mrn).toHaveLength(64);
    expect(views).toEqual([]);
  });
});

describe('patient access on a fresh database', () => {
  const database = useTestDatabase();

  it('answers a search by MRN with [] and creates no blind-index key', async () => {
    // Prepare
    const pipeline = createTestPipeline(database);
    const actor = 'user:clinician-fresh';

    // Act
    const views = await findPatientsByMrn(pipeline.deps, actor, 'MRN-001');

    // Assess
    expect(views).toEqual([]);
    const keys = await database.pool.query('SELECT id FROM data_keys');
    expect(keys.rowCount).toBe(0);
    expect((await auditRowsOf(database, actor)).map((row) => row.details)).toEqual([
      { via: 'mrn', matches: 0 },
    ]);
  });
});
