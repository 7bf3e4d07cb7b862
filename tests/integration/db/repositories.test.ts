import { randomBytes, randomUUID } from 'node:crypto';
import type { QueryResultRow } from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../../../lib/db/pool.ts';
import {
  countConsentHistory,
  findConsent,
  upsertConsents,
  weighConsent,
} from '../../../lib/db/repositories/consents.ts';
import { insertDataKey } from '../../../lib/db/repositories/dataKeys.ts';
import {
  type FhirResourceRow,
  listPatientResources,
  upsertFhirResources,
} from '../../../lib/db/repositories/fhirResources.ts';
import { listIngestRuns, type RunFilter } from '../../../lib/db/repositories/ingestRuns.ts';
import { upsertPatients } from '../../../lib/db/repositories/patients.ts';
import {
  findPendingConsents,
  upsertPendingConsents,
} from '../../../lib/db/repositories/pendingConsents.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { opaquePatientRow } from '../../helpers/rows.ts';

/** Opaque stand-ins for ciphertext: these tests are about the SQL, not the crypto. */
const bytes = () => randomBytes(24);

describe('repositories on real PostgreSQL', () => {
  const database = useTestDatabase();
  let dataKeyId: string;
  let patientId: string;

  beforeAll(async () => {
    dataKeyId = randomUUID();
    await insertDataKey(database.pool, {
      id: dataKeyId,
      purpose: 'run',
      masterKeyId: 'local',
      encryptedKey: bytes(),
      encryptionContext: { purpose: 'run', runId: 'none' },
    });
    patientId = randomUUID();
    await upsertPatients(database.pool, null, [opaquePatientRow(dataKeyId, { id: patientId })]);
  });

  it('consents: a newer decision replaces the current one, an older one does not, history keeps both kinds', async () => {
    // Prepare
    const base = {
      patientId,
      source: 'ingest',
      explicit: false,
      recordedBy: 'system:test',
      runId: null,
    };
    const t = (iso: string) => new Date(iso);

    // Act
    const first = await upsertConsents(database.pool, [
      { ...base, dataSharing: true, research: false, recordedAt: t('2026-01-01T00:00:00Z') },
    ]);
    const newer = await upsertConsents(database.pool, [
      { ...base, dataSharing: false, research: false, recordedAt: t('2026-02-01T00:00:00Z') },
    ]);
    const older = await upsertConsents(database.pool, [
      { ...base, dataSharing: true, research: true, recordedAt: t('2025-12-01T00:00:00Z') },
    ]);

    // Assess
    expect([first, newer, older]).toEqual([
      { created: [patientId], updated: [], unchanged: [] },
      { created: [], updated: [patientId], unchanged: [] },
      { created: [], updated: [], unchanged: [patientId] },
    ]);
    expect(await findConsent(database.pool, patientId)).toMatchObject({
      dataSharing: false,
      recordedAt: t('2026-02-01T00:00:00Z'),
    });
    expect(await countConsentHistory(database.pool, patientId)).toBe(2);
  });

  it('consents: one statement inserting and updating many writes one history row per new or changed decision', async () => {
    // Prepare: three more patients, one with a current decision.
    const others = [randomUUID(), randomUUID(), randomUUID()];
    await upsertPatients(
      database.pool,
      null,
      others.map((id) => opaquePatientRow(dataKeyId, { id })),
    );
    const [changed, added, alsoAdded] = others as [string, string, string];
    const decision = (id: string, dataSharing: boolean, iso: string) => ({
      patientId: id,
      dataSharing,
      research: false,
      source: 'ingest',
      recordedAt: new Date(iso),
      explicit: false,
      recordedBy: 'system:test',
      runId: null,
    });
    await upsertConsents(database.pool, [decision(changed, true, '2026-01-01T00:00:00Z')]);
    const historyOf = async (ids: readonly string[]) =>
      (
        await database.pool.query<{ patient_id: string; data_sharing: boolean }>(
          `SELECT patient_id, data_sharing FROM consent_history
           WHERE patient_id = ANY($1::uuid[]) ORDER BY id`,
          [ids],
        )
      ).rows;

    // Act: one INSERT ... ON CONFLICT statement, two inserts and one change.
    const outcome = await upsertConsents(database.pool, [
      decision(changed, false, '2026-02-01T00:00:00Z'),
      decision(added, true, '2026-02-01T00:00:00Z'),
      decision(alsoAdded, false, '2026-02-01T00:00:00Z'),
    ]);
    // An UPDATE that leaves the decision as it is.
    await database.pool.query('UPDATE consents SET updated_at = now() WHERE patient_id = $1', [
      added,
    ]);

    // Assess
    expect(outcome.created.toSorted()).toEqual([added, alsoAdded].toSorted());
    expect(outcome.updated).toEqual([changed]);
    const history = await historyOf(others);
    expect(history.filter((row) => row.patient_id === changed)).toEqual([
      { patient_id: changed, data_sharing: true },
      { patient_id: changed, data_sharing: false },
    ]);
    expect(
      history
        .filter((row) => row.patient_id !== changed)
        .toSorted((a, b) => (a.patient_id < b.patient_id ? -1 : 1)),
    ).toEqual(
      [
        { patient_id: added, data_sharing: true },
        { patient_id: alsoAdded, data_sharing: false },
      ].toSorted((a, b) => (a.patient_id < b.patient_id ? -1 : 1)),
    );
  });

  // Every pairing of a decision on record and one offered: sharing or not, explicit or fed,
  // dated before, at or after the one on record.
  const standings = [true, false].flatMap((dataSharing) =>
    [true, false].map((explicit) => ({ dataSharing, explicit })),
  );
  const pairings = standings.flatMap((current) =>
    standings.flatMap((next) => [-1, 0, 1].map((offsetMs) => [current, next, offsetMs] as const)),
  );

  it.each(pairings)(
    'consents and pending consents: the SQL weighs %o against %o (offset %i ms) as weighConsent does',
    async (current, next, offsetMs) => {
      // Prepare
      const id = randomUUID();
      await upsertPatients(database.pool, null, [opaquePatientRow(dataKeyId, { id })]);
      const at = new Date('2026-03-01T00:00:00Z');
      const later = new Date(at.getTime() + offsetMs);
      const decision = (standing: typeof current, recordedAt: Date, research: boolean) => ({
        ...standing,
        research,
        recordedAt,
        source: standing.explicit ? 'patient-portal' : 'ingest',
        recordedBy: 'system:test',
        runId: null,
      });
      // research differs, so a decision that takes effect always changes the row.
      await upsertConsents(database.pool, [{ patientId: id, ...decision(current, at, false) }]);
      const refBidx = randomBytes(32);
      await upsertPendingConsents(database.pool, [{ refBidx, ...decision(current, at, false) }]);
      const expected = weighConsent({ ...current, recordedAt: at }, { ...next, recordedAt: later });

      // Act
      const outcome = await upsertConsents(database.pool, [
        { patientId: id, ...decision(next, later, true) },
      ]);
      await upsertPendingConsents(database.pool, [{ refBidx, ...decision(next, later, true) }]);

      // Assess
      const applies = expected === 'applies';
      expect(outcome.updated).toEqual(applies ? [id] : []);
      const onRecord = await findConsent(database.pool, id);
      const waiting = (await findPendingConsents(database.pool, [refBidx])).get(
        refBidx.toString('base64'),
      );
      for (const row of [onRecord, waiting]) {
        expect(row).toMatchObject(applies ? { ...next, research: true } : { ...current });
      }
    },
  );

  it('FHIR resources: insert, skip identical, update changed, list by patient and type in date order', async () => {
    // Prepare
    const row = (overrides: Partial<FhirResourceRow>): FhirResourceRow => ({
      id: randomUUID(),
      resourceType: 'Observation',
      patientId,
      category: 'vital-signs',
      codeSystem: 'http://loinc.org',
      code: '8867-4',
      principalAt: new Date('2026-03-01T10:00:00Z'),
      status: 'final',
      sourceEnc: bytes(),
      recordDigest: bytes(),
      dataKeyId,
      ...overrides,
    });
    const later = row({ principalAt: new Date('2026-03-02T10:00:00Z') });
    const earlier = row({});
    const condition = row({ resourceType: 'Condition', principalAt: null });

    // Act
    const inserted = await upsertFhirResources(database.pool, null, [later, earlier]);
    const again = await upsertFhirResources(database.pool, null, [
      later,
      { ...earlier, status: 'amended', recordDigest: bytes() },
    ]);
    await upsertFhirResources(database.pool, null, [condition]);
    const listed = await listPatientResources(database.pool, patientId, 'Observation');
    const conditions = await listPatientResources(database.pool, patientId, 'Condition');

    // Assess
    expect({ ...inserted, created: inserted.created.toSorted() }).toEqual({
      created: [later.id, earlier.id].sort(),
      updated: [],
      unchanged: [],
    });
    expect(again).toEqual({ created: [], updated: [earlier.id], unchanged: [later.id] });
    expect(listed.map((o) => [o.id, o.status])).toEqual([
      [earlier.id, 'amended'],
      [later.id, 'final'],
    ]);
    expect(conditions.map((c) => c.id)).toEqual([condition.id]);
  });
});

interface PlanNode {
  readonly 'Node Type': string;
  readonly 'Index Name'?: string;
  readonly 'Index Cond'?: string;
  readonly Plans?: readonly PlanNode[];
}

function planNodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(planNodes)];
}

describe('listIngestRuns: the plan PostgreSQL chooses', () => {
  const database = useTestDatabase();

  /** The plan of the very statement listIngestRuns sends, with its parameters. */
  async function planOf(filter: RunFilter): Promise<PlanNode[]> {
    let sent: { text: string; values: readonly unknown[] } | undefined;
    const capturing: Queryable = {
      query: <R extends QueryResultRow>(text: string, values: readonly unknown[] = []) => {
        sent = { text, values };
        return database.pool.query<R>(text, [...values]);
      },
    };
    await listIngestRuns(capturing, filter, 51);
    if (sent === undefined) throw new Error('listIngestRuns sent nothing');
    const { rows } = await database.pool.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
      `EXPLAIN (FORMAT JSON) ${sent.text}`,
      [...sent.values],
    );
    return planNodes(rows[0]!['QUERY PLAN'][0].Plan);
  }

  beforeAll(async () => {
    const dataKeyId = randomUUID();
    await insertDataKey(database.pool, {
      id: dataKeyId,
      purpose: 'run',
      masterKeyId: 'local',
      encryptedKey: bytes(),
      encryptionContext: { purpose: 'run', runId: 'none' },
    });
    // A year of runs, a few hundred a day, one in 500 failed: the plans of a store in use.
    await database.pool.query(
      `INSERT INTO ingest_runs (id, status, format, source, actor, data_key_id, created_at, finished_at)
       SELECT gen_random_uuid(), CASE WHEN n % 500 = 0 THEN 'failed' ELSE 'succeeded' END, 'flat',
              CASE WHEN n % 10 = 0 THEN 'queue' ELSE 'api' END, 'system:seeder', $1,
              timestamptz '2030-01-01' - make_interval(secs => n * 300),
              timestamptz '2030-01-01' - make_interval(secs => n * 300 - 2)
       FROM generate_series(1, 100000) AS n`,
      [dataKeyId],
    );
    await database.pool.query('ANALYZE ingest_runs');
  });

  it.each<[string, RunFilter]>([
    ['the newest page', {}],
    ['a page after a cursor', { after: { createdAtMicros: '1880000000000000', id: randomUUID() } }],
    ['a time range', { from: new Date('2029-06-01'), to: new Date('2029-07-01') }],
    ['a common status and a source', { statuses: ['succeeded'], source: 'queue' }],
  ])('reads %s newest first from ingest_runs_newest, without sorting', async (_, filter) => {
    // Act
    const nodes = await planOf(filter);

    // Assess
    expect(nodes.map((node) => node['Node Type'])).toStrictEqual(['Limit', 'Index Scan']);
    expect(nodes[1]?.['Index Name']).toBe('ingest_runs_newest');
  });

  it('bounds the scan by the cursor and the time range, not by a filter', async () => {
    // Act
    const nodes = await planOf({
      from: new Date('2029-06-01'),
      to: new Date('2029-07-01'),
      after: { createdAtMicros: '1877000000000000', id: randomUUID() },
    });

    // Assess
    const condition = nodes[1]?.['Index Cond'] ?? '';
    expect(condition).toContain('created_at >=');
    expect(condition).toContain('created_at <');
    expect(condition).toMatch(/ROW\(created_at, id\) < ROW/);
  });

  it('reads a rare status from ingest_runs_status_newest: only its runs, never the whole table', async () => {
    // Act
    const nodes = await planOf({ statuses: ['failed'] });

    // Assess
    const scans = nodes.filter((node) => node['Node Type'].includes('Scan'));
    expect(scans.map((node) => node['Index Name'])).toStrictEqual(['ingest_runs_status_newest']);
    expect(nodes.some((node) => node['Node Type'] === 'Seq Scan')).toBe(false);
  });

  it('reads one submitter’s page from ingest_runs_submitter_newest: only their runs, newest first', async () => {
    // Prepare: a tenant with a few runs among a year of another's.
    await database.pool.query(
      `INSERT INTO ingest_runs (id, status, format, source, actor, data_key_id, created_at)
       SELECT gen_random_uuid(), 'succeeded', 'flat', 'api', 'clinic-small', data_key_id,
              timestamptz '2029-01-01' + make_interval(days => n)
       FROM generate_series(1, 50) AS n, (SELECT data_key_id FROM ingest_runs LIMIT 1) AS k`,
    );
    await database.pool.query('ANALYZE ingest_runs');

    // Act
    const nodes = await planOf({ submitter: 'clinic-small' });

    // Assess
    expect(nodes.map((node) => node['Node Type'])).toStrictEqual(['Limit', 'Index Scan']);
    expect(nodes[1]?.['Index Name']).toBe('ingest_runs_submitter_newest');
  });
});
