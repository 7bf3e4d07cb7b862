import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAuditQuery, queryAudit, verifyAudit } from '../../../lib/audit/auditQueries.ts';
import { type AuditEntry, appendAudit } from '../../../lib/db/repositories/auditLog.ts';
import { ForbiddenError, InputValidationError } from '../../../lib/errors.ts';
import { changeConsent } from '../../../lib/patients/consentChanges.ts';
import { findPatientsByMrn, readPatient } from '../../../lib/patients/patientAccess.ts';
import { type TestDatabase, useTestDatabase } from '../../helpers/database.ts';
import { occurrences, sweepDatabase } from '../../helpers/databaseSweep.ts';
import { flatRecord, useTestPipeline } from '../../helpers/pipeline.ts';
import { thrownBy } from '../../helpers/thrown.ts';

type Tally = Record<string, number>;

/** Audit rows counted by `ACTION resourceType outcome`. */
async function tally(database: TestDatabase): Promise<Tally> {
  const { rows } = await database.pool.query<{ kind: string; n: number }>(
    `SELECT action || ' ' || resource_type || ' ' || outcome AS kind, count(*)::int AS n
     FROM audit_log GROUP BY 1`,
  );
  return Object.fromEntries(rows.map((row) => [row.kind, row.n]));
}

function added(before: Tally, after: Tally): Tally {
  return Object.fromEntries(
    Object.entries(after)
      .map(([kind, n]) => [kind, n - (before[kind] ?? 0)] as const)
      .filter(([, n]) => n !== 0),
  );
}

async function auditCount(database: TestDatabase): Promise<number> {
  const { rows } = await database.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM audit_log',
  );
  return rows[0]!.n;
}

async function patientIdOf(database: TestDatabase, runId: string): Promise<string[]> {
  const { rows } = await database.pool.query<{ id: string }>(
    'SELECT id FROM patients WHERE created_run_id = $1 ORDER BY id',
    [runId],
  );
  return rows.map((row) => row.id);
}

describe('one audit row per create, update, read, consent change and denial', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);

  it('counts exactly the rows each event should write, in a fresh database', async () => {
    // Prepare
    const feed = 'system:feed-audit-trail';
    const clinician = 'user:clinician-audit-trail';
    const officer = 'user:officer-audit-trail';
    const alice = flatRecord({ mrn: 'MRN-AT-ALICE', name: 'Alice Audited' });
    const bob = flatRecord({ mrn: 'MRN-AT-BOB', name: 'Bob Audited' });
    const carol = flatRecord({ mrn: 'MRN-AT-CAROL', consent: { data_sharing: false } });
    const dave = flatRecord({ mrn: 'MRN-AT-DAVE', ssn: 'not an ssn' });
    let aliceId = '';
    let bobId = '';
    const steps: ReadonlyArray<readonly [string, () => Promise<unknown>, Tally]> = [
      [
        'ingest: Alice consented, Carol refused, Dave invalid',
        async () => {
          const { runId, execution } = await pipeline.ingest([alice, carol, dave], feed);
          expect(execution.status).toBe('SUCCEEDED');
          [aliceId] = (await patientIdOf(database, runId)) as [string];
        },
        { 'CREATE Patient success': 1, 'CREATE Consent success': 1, 'DENY Patient denied': 1 },
      ],
      [
        'ingest: Bob new, Alice identical',
        async () => {
          const { runId, execution } = await pipeline.ingest([bob, alice], feed);
          expect(execution.status).toBe('SUCCEEDED');
          [bobId] = (await patientIdOf(database, runId)) as [string];
        },
        { 'CREATE Patient success': 1, 'CREATE Consent success': 1 },
      ],
      [
        're-ingest: Alice with a new name, Bob identical',
        async () =>
          pipeline
            .ingest([{ ...alice, name: 'Alice Renamed' }, bob], feed)
            .then(({ execution }) => expect(execution.status).toBe('SUCCEEDED')),
        { 'UPDATE Patient success': 1 },
      ],
      [
        're-ingest: Bob now also consents to research',
        async () =>
          pipeline
            .ingest([{ ...bob, consent: { data_sharing: true, research: true } }], feed)
            .then(({ execution }) => expect(execution.status).toBe('SUCCEEDED')),
        { 'UPDATE Consent success': 1 },
      ],
      [
        'a read of Alice',
        async () => readPatient(pipeline.deps, clinician, aliceId),
        { 'READ Patient success': 1 },
      ],
      [
        'a revocation of Alice',
        async () => changeConsent(pipeline.deps, officer, aliceId, { data_sharing: false }),
        { 'UPDATE Consent success': 1 },
      ],
      [
        'a denied read of Alice by id',
        async () =>
          expect(readPatient(pipeline.deps, clinician, aliceId)).rejects.toBeInstanceOf(
            ForbiddenError,
          ),
        { 'DENY Patient denied': 1 },
      ],
      [
        'a denied search for Alice by MRN',
        async () =>
          expect(findPatientsByMrn(pipeline.deps, clinician, 'MRN-AT-ALICE')).resolves.toEqual([]),
        { 'DENY Patient denied': 1 },
      ],
    ];
    expect(await tally(database)).toEqual({});

    for (const [step, act, expected] of steps) {
      // Act
      const before = await tally(database);
      await act();

      // Assess
      expect(added(before, await tally(database)), step).toEqual(expected);
    }
    const { rows } = await database.pool.query<{ kind: string; ids: string[] }>(
      `SELECT action || ' ' || resource_type AS kind, array_agg(resource_id ORDER BY seq) AS ids
       FROM audit_log GROUP BY 1 ORDER BY 1`,
    );
    expect(Object.fromEntries(rows.map((row) => [row.kind, row.ids]))).toEqual({
      'CREATE Consent': [aliceId, bobId],
      'CREATE Patient': [aliceId, bobId],
      'DENY Patient': [null, aliceId, aliceId],
      'READ Patient': [aliceId],
      'UPDATE Consent': [bobId, aliceId],
      'UPDATE Patient': [aliceId],
    });
  });

  it('no audit row carries the PHI of the batches, reads, changes and denials it records', async () => {
    // Prepare
    const canaries = {
      mrn: 'MRN-CANARY-AUDIT-4471',
      name: 'Quorra Auditcanary',
      renamed: 'Quorra Renamedcanary',
      ssn: '987-65-4471',
      birthDate: '1931-07-19',
      refusedMrn: 'MRN-CANARY-AUDIT-REFUSED',
      refusedName: 'Xanthe Refusedcanary',
      invalidName: 'Yorick Invalidcanary',
      missingMrn: 'MRN-CANARY-AUDIT-NOBODY',
    };
    const feed = 'system:feed-audit-canary';
    const reader = 'user:clinician-audit-canary';
    const patient = flatRecord({
      mrn: canaries.mrn,
      name: canaries.name,
      ssn: canaries.ssn,
      birthDate: canaries.birthDate,
    });

    // Act
    const { runId } = await pipeline.ingest(
      [
        patient,
        flatRecord({
          mrn: canaries.refusedMrn,
          name: canaries.refusedName,
          consent: { data_sharing: false },
        }),
        flatRecord({ mrn: 'MRN-AT-INVALID', name: canaries.invalidName, birthDate: '1931-02-30' }),
      ],
      feed,
    );
    await pipeline.ingest([{ ...patient, name: canaries.renamed }], feed);
    const [id] = await patientIdOf(database, runId);
    await readPatient(pipeline.deps, reader, id!);
    await findPatientsByMrn(pipeline.deps, reader, canaries.mrn);
    await findPatientsByMrn(pipeline.deps, reader, canaries.missingMrn);
    await changeConsent(pipeline.deps, 'user:officer-audit-canary', id!, {
      data_sharing: false,
      source: 'paper-form',
    });
    await thrownBy(() => readPatient(pipeline.deps, reader, id!));
    await findPatientsByMrn(pipeline.deps, reader, canaries.mrn);
    await queryAudit(pipeline.deps, 'system:auditor', { patient: id! });
    await verifyAudit(pipeline.deps, 'system:auditor');

    // Assess
    const { cells } = await sweepDatabase(database.pool);
    const audit = cells.filter((cell) => cell.table === 'audit_log');
    expect(audit.filter((cell) => cell.column === 'details').length).toBeGreaterThan(10);
    expect(occurrences(audit, Object.values(canaries))).toEqual([]);
  });
});

describe('audit rows commit with what they record', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);
  let patientId: string;
  const mrn = 'MRN-AT-ATOMIC';

  beforeAll(async () => {
    const { runId } = await pipeline.ingest([flatRecord({ mrn, name: 'Ada Atomic' })]);
    [patientId] = (await patientIdOf(database, runId)) as [string];
    // As superuser: audit inserts for this one actor now fail; existing rows are not checked.
    await database.pool.query(
      "ALTER TABLE audit_log ADD CONSTRAINT reject_actor CHECK (actor <> 'audit-down') NOT VALID",
    );
    // And a consent decision by this other actor fails at COMMIT, after everything else ran.
    await database.pool.query(
      `CREATE FUNCTION refuse_commit_down() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.recorded_by = 'commit-down' THEN
           RAISE EXCEPTION 'refused at commit' USING ERRCODE = 'check_violation';
         END IF;
         RETURN NULL;
       END $$`,
    );
    await database.pool.query(
      `CREATE CONSTRAINT TRIGGER refuse_commit_down AFTER INSERT OR UPDATE ON consents
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit_down()`,
    );
  });

  afterAll(async () => {
    await database.pool.query('ALTER TABLE audit_log DROP CONSTRAINT reject_actor');
    await database.pool.query('DROP TRIGGER refuse_commit_down ON consents');
    await database.pool.query('DROP FUNCTION refuse_commit_down()');
  });

  async function consentState() {
    const { rows } = await database.pool.query(
      `SELECT (SELECT row_to_json(c) FROM consents c WHERE patient_id = $1) AS consent,
              (SELECT count(*)::int FROM consent_history WHERE patient_id = $1) AS history,
              (SELECT count(*)::int FROM audit_log) AS audit`,
      [patientId],
    );
    return rows[0] as { consent: Record<string, unknown>; history: number; audit: number };
  }

  it.each([
    ['a revocation', { data_sharing: false }],
    ['a research opt-in', { research: true }],
  ])('%s whose audit row cannot be written changes nothing', async (_, change) => {
    // Prepare
    const before = await consentState();

    // Act
    const error = await thrownBy(() =>
      changeConsent(pipeline.deps, 'audit-down', patientId, change),
    );

    // Assess
    expect(error).toMatchObject({ code: '23514', constraint: 'reject_actor' });
    expect(await consentState()).toStrictEqual(before);
    expect(before.consent).toMatchObject({ data_sharing: true, research: false });
  });

  it('a change that fails at commit leaves no audit row claiming it happened', async () => {
    // Prepare
    const before = await consentState();

    // Act
    const error = await thrownBy(() =>
      changeConsent(pipeline.deps, 'commit-down', patientId, { data_sharing: false }),
    );

    // Assess
    expect(error).toMatchObject({ code: '23514', message: 'refused at commit' });
    expect(await consentState()).toStrictEqual(before);
    const { rows } = await database.pool.query(
      "SELECT 1 FROM audit_log WHERE actor = 'commit-down'",
    );
    expect(rows).toEqual([]);
  });

  it.each([
    ['by id', () => readPatient(pipeline.deps, 'audit-down', patientId)],
    ['by MRN', () => findPatientsByMrn(pipeline.deps, 'audit-down', mrn)],
  ])('a read %s whose audit row cannot be written returns nothing', async (_, read) => {
    // Prepare
    const before = await auditCount(database);

    // Act
    const outcome = await read().then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );

    // Assess
    expect(outcome).toStrictEqual({
      error: expect.objectContaining({ code: '23514', constraint: 'reject_actor' }),
    });
    expect(JSON.stringify(outcome)).not.toContain('Ada Atomic');
    expect(await auditCount(database)).toBe(before);
  });

  it('the same read and change by any other actor go through, each audited', async () => {
    // Prepare
    const before = await auditCount(database);

    // Act
    const view = await readPatient(pipeline.deps, 'audit-up', patientId);
    await changeConsent(pipeline.deps, 'audit-up', patientId, { research: true });

    // Assess
    expect(view.name).toBe('Ada Atomic');
    expect(await auditCount(database)).toBe(before + 2);
  });
});

describe('queryAudit', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);
  const auditor = 'system:auditor-query';
  const patientP = randomUUID();
  const patientQ = randomUUID();
  const actorX = 'user:fixture-x';
  const actorY = 'user:fixture-y';
  /** The fixture rows in the order written, by name: r1 .. r8. */
  const fixture = new Map<string, { id: string; seq: number; at: Date }>();

  const entry = (
    actor: string,
    action: AuditEntry['action'],
    resourceType: string,
    resourceId: string,
  ): AuditEntry => ({
    actor,
    action,
    resourceType,
    resourceId,
    runId: null,
    outcome: action === 'DENY' ? 'denied' : 'success',
    details: { fixture: true },
  });

  const ids = (...names: string[]) => names.map((name) => fixture.get(name)!.id);

  beforeAll(async () => {
    const rows: Array<[string, AuditEntry]> = [
      ['r1', entry(actorX, 'CREATE', 'Patient', patientP)],
      ['r2', entry(actorX, 'UPDATE', 'Consent', patientP)],
      ['r3', entry(actorY, 'READ', 'Patient', patientP)],
      ['r4', entry(actorY, 'DENY', 'Patient', patientP)],
      // Same id, another resource type: not about the patient.
      ['r5', entry(actorX, 'READ', 'Observation', patientP)],
      ['r6', entry(actorX, 'UPDATE', 'Patient', patientQ)],
      ['r7', entry(actorY, 'DENY', 'Patient', patientQ)],
      ['r8', entry(actorX, 'DELETE', 'Consent', patientQ)],
    ];
    for (const [name, row] of rows) {
      await appendAudit(database.pool, pipeline.deps.auditMac, [row]);
      const { rows: written } = await database.pool.query<{ id: string; seq: string; at: Date }>(
        'SELECT id, seq, at FROM audit_log ORDER BY seq DESC LIMIT 1',
      );
      fixture.set(name, { ...written[0]!, seq: Number(written[0]!.seq) });
      // Each row in a millisecond of its own: from/to are given in milliseconds.
      await sleep(3);
    }
  });

  it.each([
    ['a patient', () => ({ patient: patientP }), () => ids('r1', 'r2', 'r3', 'r4')],
    [
      'a patient id in capitals',
      () => ({ patient: patientP.toUpperCase() }),
      () => ids('r1', 'r2', 'r3', 'r4'),
    ],
    ['an actor', () => ({ actor: actorX }), () => ids('r1', 'r2', 'r5', 'r6', 'r8')],
    ['a list of actions', () => ({ action: 'DENY,UPDATE' }), () => ids('r2', 'r4', 'r6', 'r7')],
    ['one action and an actor', () => ({ action: 'READ', actor: actorY }), () => ids('r3')],
    [
      'from (inclusive) and to (exclusive)',
      () => ({
        from: fixture.get('r3')!.at.toISOString(),
        to: fixture.get('r6')!.at.toISOString(),
      }),
      () => ids('r3', 'r4', 'r5'),
    ],
    [
      'all of them at once',
      () => ({
        patient: patientQ,
        actor: actorY,
        action: 'DENY,READ',
        from: fixture.get('r1')!.at.toISOString(),
        to: new Date(fixture.get('r8')!.at.getTime() + 1).toISOString(),
      }),
      () => ids('r7'),
    ],
  ])(
    'filtered by %s returns exactly the matching rows, in seq order',
    async (_, query, expected) => {
      // Act
      const page = await queryAudit(pipeline.deps, auditor, query());

      // Assess
      expect(page.data.map((row) => row.id)).toEqual(expected());
      expect(page.nextCursor).toBeNull();
    },
  );

  it('appends one READ AuditEvent row per query, naming the filters but not their values', async () => {
    // Prepare
    const actor = 'system:auditor-reading';
    const before = await auditCount(database);

    // Act
    const page = await queryAudit(pipeline.deps, actor, { patient: patientP, actor: actorY });

    // Assess
    expect(page.data.map((row) => row.id)).toEqual(ids('r3', 'r4'));
    expect(await auditCount(database)).toBe(before + 1);
    const { rows } = await database.pool.query(
      `SELECT actor, action, resource_type, resource_id, run_id, outcome, details
       FROM audit_log ORDER BY seq DESC LIMIT 1`,
    );
    expect(rows[0]).toStrictEqual({
      actor,
      action: 'READ',
      resource_type: 'AuditEvent',
      resource_id: null,
      run_id: null,
      outcome: 'success',
      details: { returned: 2, filtered: ['patientId', 'actor'] },
    });
    expect(JSON.stringify(rows[0])).not.toContain(patientP);
    expect(JSON.stringify(rows[0])).not.toContain(actorY);
  });

  it.each([
    ['9 rows (a multiple of the page)', 9],
    ['10 rows', 10],
    ['1 row', 1],
  ])(
    'walks %s of one actor with limit 3: each once, in seq order, then stops',
    async (_, total) => {
      // Prepare
      const actor = `user:paged-${randomUUID().slice(0, 8)}`;
      await appendAudit(
        database.pool,
        pipeline.deps.auditMac,
        Array.from({ length: total }, () => entry(actor, 'READ', 'Patient', randomUUID())),
      );
      const { rows } = await database.pool.query<{ id: string }>(
        'SELECT id FROM audit_log WHERE actor = $1 ORDER BY seq',
        [actor],
      );

      // Act
      const pages: string[][] = [];
      let cursor: string | null = null;
      do {
        const page: Awaited<ReturnType<typeof queryAudit>> = await queryAudit(
          pipeline.deps,
          auditor,
          { actor, limit: '3', ...(cursor === null ? {} : { cursor }) },
        );
        pages.push(page.data.map((row) => row.id));
        cursor = page.nextCursor;
      } while (cursor !== null && pages.length <= total);

      // Assess
      expect(pages.flat()).toEqual(rows.map((row) => row.id));
      expect(pages.map((page) => page.length)).toEqual(
        Array.from({ length: Math.ceil(total / 3) }, (_, n) => Math.min(3, total - n * 3)),
      );
    },
  );

  it.each([
    ['9 rows (a multiple of the page)', 9],
    ['10 rows', 10],
    ['1 row', 1],
  ])(
    'walks %s of one actor newest first (order=desc) with limit 3: each once, then stops',
    async (_, total) => {
      // Prepare
      const actor = `user:newest-${randomUUID().slice(0, 8)}`;
      await appendAudit(
        database.pool,
        pipeline.deps.auditMac,
        Array.from({ length: total }, () => entry(actor, 'READ', 'Patient', randomUUID())),
      );
      const { rows } = await database.pool.query<{ id: string }>(
        'SELECT id FROM audit_log WHERE actor = $1 ORDER BY seq DESC',
        [actor],
      );

      // Act
      const pages: string[][] = [];
      let cursor: string | null = null;
      do {
        const page: Awaited<ReturnType<typeof queryAudit>> = await queryAudit(
          pipeline.deps,
          auditor,
          { actor, order: 'desc', limit: '3', ...(cursor === null ? {} : { cursor }) },
        );
        pages.push(page.data.map((row) => row.id));
        cursor = page.nextCursor;
      } while (cursor !== null && pages.length <= total);

      // Assess
      expect(pages.flat()).toEqual(rows.map((row) => row.id));
      expect(pages.map((page) => page.length)).toEqual(
        Array.from({ length: Math.ceil(total / 3) }, (_, n) => Math.min(3, total - n * 3)),
      );
    },
  );

  it('reads the latest entries first with order=desc, the rows each read appends included', async () => {
    // Prepare: one read appends a row the next one sees first
    await queryAudit(pipeline.deps, auditor, { limit: '1' });
    const { rows } = await database.pool.query<{ seq: string }>(
      'SELECT seq FROM audit_log ORDER BY seq DESC LIMIT 5',
    );

    // Act
    const page = await queryAudit(pipeline.deps, auditor, { order: 'desc', limit: '5' });

    // Assess
    expect(page.data.map((row) => row.seq)).toEqual(rows.map((row) => Number(row.seq)));
    expect(page.data[0]!.actor).toBe(auditor);
    expect(page.nextCursor).toBe(`desc.${rows.at(-1)!.seq}`);
  });

  it('pages the same filtered rows with order=asc and order=desc, one the reverse of the other', async () => {
    // Act
    const walk = async (order: string): Promise<string[]> => {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: Awaited<ReturnType<typeof queryAudit>> = await queryAudit(
          pipeline.deps,
          auditor,
          { actor: actorX, order, limit: '2', ...(cursor === null ? {} : { cursor }) },
        );
        seen.push(...page.data.map((row) => row.id));
        cursor = page.nextCursor;
      } while (cursor !== null && seen.length <= 10);
      return seen;
    };
    const ascending = await walk('asc');
    const descending = await walk('desc');

    // Assess
    expect(ascending).toEqual(ids('r1', 'r2', 'r5', 'r6', 'r8'));
    expect(descending).toEqual([...ascending].reverse());
  });

  it.each([
    ['an asc cursor with order=desc', { order: 'desc', cursor: 'asc.5' }],
    ['a desc cursor with order=asc', { order: 'asc', cursor: 'desc.5' }],
    ['a desc cursor with no order (asc)', { cursor: 'desc.5' }],
  ])('refuses %s on /cursor, and appends no audit row', async (_, query) => {
    // Prepare
    const before = await auditCount(database);

    // Act
    const error = await thrownBy(() => queryAudit(pipeline.deps, auditor, query));

    // Assess
    expect(error).toBeInstanceOf(InputValidationError);
    const invalid = error as InputValidationError;
    expect(invalid.statusCode).toBe(400);
    expect(invalid.problems).toEqual([
      {
        path: '/cursor',
        keyword: 'const',
        message: 'must be a cursor from a previous page in the same order',
      },
    ]);
    expect(await auditCount(database)).toBe(before);
  });

  it('walks the whole log with limit 3: every row once, in seq order, and stops', async () => {
    // Act: each page appends its own READ row, which a later page then visits
    const seqs: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Awaited<ReturnType<typeof queryAudit>> = await queryAudit(
        pipeline.deps,
        auditor,
        { limit: '3', ...(cursor === null ? {} : { cursor }) },
      );
      seqs.push(...page.data.map((row) => row.seq));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 1_000);

    // Assess: all rows but the one the last page appended after it had read
    const { rows } = await database.pool.query<{ last: string }>(
      'SELECT max(seq) AS last FROM audit_log',
    );
    const last = Number(rows[0]!.last);
    expect(seqs).toEqual(Array.from({ length: last - 1 }, (_, n) => n + 1));
    expect(pages).toBeLessThan(last);
  });

  it.each([
    ['a patient that is no uuid', { patient: 'Jane Doe' }, '/patient', ['Jane Doe']],
    ['an action outside the list', { action: 'HACK' }, '/action', ['HACK']],
    ['a list with one bad action', { action: 'READ,Jane Doe' }, '/action', ['Jane Doe']],
    ['limit 0', { limit: '0' }, '/limit', []],
    ['limit 5000', { limit: '5000' }, '/limit', ['5000']],
    ['a limit that is no number', { limit: 'Jane' }, '/limit', ['Jane']],
    ['an unknown parameter', { 'Jane Doe': '123-45-6789' }, '', ['Jane Doe', '123-45-6789']],
    ['from yesterday', { from: 'yesterday' }, '/from', ['yesterday']],
    ['a to that does not exist', { to: '2024-13-45' }, '/to', ['2024-13-45']],
    ['an actor with a space', { actor: 'Jane Doe' }, '/actor', ['Jane Doe']],
    ['a cursor that is no seq', { cursor: 'MRN-001' }, '/cursor', ['MRN-001']],
    ['a bare seq as a cursor (no order)', { cursor: '12' }, '/cursor', []],
    ['an order that is neither asc nor desc', { order: 'Jane Doe' }, '/order', ['Jane Doe']],
    [
      'an unknown order with a cursor',
      { order: 'sideways', cursor: 'asc.3' },
      '/order',
      ['sideways'],
    ],
  ])(
    'refuses %s with InputValidationError naming the parameter, not its value',
    async (_, query, path, needles) => {
      // Prepare
      const before = await auditCount(database);

      // Act
      const parsed = await thrownBy(async () => parseAuditQuery(query));
      const queried = await thrownBy(() => queryAudit(pipeline.deps, auditor, query));

      // Assess
      for (const error of [parsed, queried]) {
        expect(error).toBeInstanceOf(InputValidationError);
        const invalid = error as InputValidationError;
        expect(invalid.statusCode).toBe(400);
        expect(invalid.problems.map((problem) => problem.path)).toEqual([path]);
        const said = JSON.stringify({ message: invalid.message, problems: invalid.problems });
        for (const needle of needles) expect(said).not.toContain(needle);
      }
      expect(await auditCount(database)).toBe(before);
    },
  );

  it.each([
    ['one past the largest bigint', 'asc.9223372036854775808'],
    ['19 nines', 'desc.9999999999999999999'],
  ])(
    'refuses a cursor past the range of a seq, %s, on /cursor (a 400, not a 500)',
    async (_, cursor) => {
      // Act
      const error = await thrownBy(() => queryAudit(pipeline.deps, auditor, { cursor }));

      // Assess
      expect(error).toBeInstanceOf(InputValidationError);
      expect((error as InputValidationError).problems.map((problem) => problem.path)).toEqual([
        '/cursor',
      ]);
    },
  );

  it('takes the largest bigint as an asc cursor: an empty last page', async () => {
    // Act
    const page = await queryAudit(pipeline.deps, auditor, { cursor: 'asc.9223372036854775807' });

    // Assess
    expect(page).toEqual({ data: [], nextCursor: null });
  });

  it('takes the largest bigint as a desc cursor: the newest entries', async () => {
    // Prepare
    const { rows } = await database.pool.query<{ seq: string }>(
      'SELECT seq FROM audit_log ORDER BY seq DESC LIMIT 2',
    );

    // Act
    const page = await queryAudit(pipeline.deps, auditor, {
      order: 'desc',
      limit: '2',
      cursor: 'desc.9223372036854775807',
    });

    // Assess
    expect(page.data.map((row) => row.seq)).toEqual(rows.map((row) => Number(row.seq)));
  });
});

describe('verifyAudit', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);
  const auditor = 'system:auditor-verify';

  beforeAll(async () => {
    const { execution } = await pipeline.ingest([
      flatRecord({ mrn: 'MRN-AT-VERIFY-1' }),
      flatRecord({ mrn: 'MRN-AT-VERIFY-2' }),
      flatRecord({ mrn: 'MRN-AT-VERIFY-3', consent: { data_sharing: false } }),
    ]);
    expect(execution.status).toBe('SUCCEEDED');
  });

  /** Runs `sql` as a superuser would, with the append-only trigger out of the way. */
  async function behindTheTrigger(sql: string, values: unknown[]): Promise<void> {
    const client = await database.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete');
      await client.query(sql, values);
      await client.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete');
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  }

  async function lastRow() {
    const { rows } = await database.pool.query(
      'SELECT actor, action, resource_type, outcome, details FROM audit_log ORDER BY seq DESC LIMIT 1',
    );
    return rows[0] as Record<string, unknown>;
  }

  it('finds an intact chain valid, and records that it looked', async () => {
    // Prepare
    const rows = await auditCount(database);

    // Act
    const result = await verifyAudit(pipeline.deps, auditor);

    // Assess
    expect(result).toStrictEqual({
      valid: true,
      rowsChecked: rows,
      walkedAfter: 0,
      firstBreak: null,
      problems: [],
      sealedThrough: expect.any(Number),
      unsealedLegacyRows: 0,
      // The runs above each checkpointed the chain at their end.
      checkpoint: { seq: expect.any(Number), at: expect.any(String) },
      checkedAt: expect.any(String),
    });
    expect(await auditCount(database)).toBe(rows + 1);
    expect(await lastRow()).toStrictEqual({
      actor: auditor,
      action: 'READ',
      resource_type: 'AuditEvent',
      outcome: 'success',
      details: { verification: 'intact', rows },
    });
  });

  it.each([
    ['actor', `UPDATE audit_log SET actor = 'mallory' WHERE seq = $1`],
    ['details', `UPDATE audit_log SET details = '{"stage":"forged"}' WHERE seq = $1`],
    ['outcome', `UPDATE audit_log SET outcome = 'failure' WHERE seq = $1`],
    ['time', `UPDATE audit_log SET at = at - interval '1 hour' WHERE seq = $1`],
  ])(
    'finds a superuser edit of the %s of a middle row, and the chain valid once it is undone',
    async (_, edit) => {
      // Prepare
      const seq = 2;
      const { rows: original } = await database.pool.query(
        'SELECT actor, details, outcome, at::text AS at FROM audit_log WHERE seq = $1',
        [seq],
      );
      await behindTheTrigger(edit, [seq]);

      // Act
      const broken = await verifyAudit(pipeline.deps, auditor);
      await behindTheTrigger(
        'UPDATE audit_log SET actor = $2, details = $3, outcome = $4, at = $5::timestamptz WHERE seq = $1',
        [seq, original[0].actor, original[0].details, original[0].outcome, original[0].at],
      );
      const repaired = await verifyAudit(pipeline.deps, auditor);

      // Assess
      expect(broken).toMatchObject({ valid: false, firstBreak: { seq, problem: 'hash-mismatch' } });
      expect(repaired).toMatchObject({ valid: true, firstBreak: null });
    },
  );

  it('records a broken verification as broken', async () => {
    // Prepare
    const { rows } = await database.pool.query<{ actor: string }>(
      'SELECT actor FROM audit_log WHERE seq = 3',
    );
    await behindTheTrigger("UPDATE audit_log SET actor = 'mallory' WHERE seq = $1", [3]);

    // Act
    const result = await verifyAudit(pipeline.deps, auditor);
    await behindTheTrigger('UPDATE audit_log SET actor = $2 WHERE seq = $1', [3, rows[0]!.actor]);

    // Assess
    expect(result).toMatchObject({
      valid: false,
      firstBreak: { seq: 3, problem: 'hash-mismatch' },
    });
    expect(await lastRow()).toMatchObject({
      actor: auditor,
      details: { verification: 'broken', rows: result.rowsChecked },
    });
  });
});
