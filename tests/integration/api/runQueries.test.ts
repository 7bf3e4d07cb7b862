import { randomBytes, randomUUID } from 'node:crypto';
import type { QueryResultRow } from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  decodeRunCursor,
  encodeRunCursor,
  parseRunQuery,
  queryRuns,
  RUN_PAGE_DEFAULT,
  RUN_PAGE_MAX,
  readRun,
  readRunRejections,
  runOwnerOf,
} from '../../../lib/api/runQueries.ts';
import type { Queryable } from '../../../lib/db/pool.ts';
import { insertDataKey } from '../../../lib/db/repositories/dataKeys.ts';
import { insertIngestRun, type RunStatus } from '../../../lib/db/repositories/ingestRuns.ts';
import { insertRejections } from '../../../lib/db/repositories/rejections.ts';
import { InputValidationError, RunNotFoundError } from '../../../lib/errors.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { thrownBy } from '../../helpers/thrown.ts';

interface SeededRun {
  readonly status: RunStatus;
  readonly source: 'api' | 'queue';
  /** As PostgreSQL takes it: microseconds matter. */
  readonly createdAt: string;
}

/** Five runs share one microsecond and two more its millisecond: paging must split them by id. */
const SHARED = '2030-01-02T00:00:00.123456Z';
const FIXTURE: readonly SeededRun[] = [
  { status: 'succeeded', source: 'api', createdAt: '2030-01-01T00:00:00Z' },
  { status: 'failed', source: 'api', createdAt: '2030-01-01T12:00:00Z' },
  { status: 'running', source: 'queue', createdAt: '2030-01-01T18:00:00Z' },
  ...Array.from({ length: 5 }, (_, n) => ({
    status: (n % 2 === 0 ? 'succeeded' : 'failed') as RunStatus,
    source: (n < 3 ? 'api' : 'queue') as 'api' | 'queue',
    createdAt: SHARED,
  })),
  { status: 'succeeded', source: 'queue', createdAt: '2030-01-02T00:00:00.123455Z' },
  { status: 'queued', source: 'api', createdAt: '2030-01-02T00:00:00.123457Z' },
  { status: 'succeeded', source: 'api', createdAt: '2030-01-03T00:00:00Z' },
];

/** The tenant every run of the fixture belongs to. */
const SEEDER = { subject: 'system:seeder', scopes: ['system/Patient.c'] } as const;

describe('queryRuns on real PostgreSQL', () => {
  const database = useTestDatabase();
  let dataKeyId: string;

  async function seed(run: SeededRun): Promise<string> {
    const id = randomUUID();
    await insertIngestRun(database.pool, {
      id,
      format: 'flat',
      source: run.source,
      actor: 'system:seeder',
      dataKeyId,
      counts: { received: 4 },
    });
    await database.pool.query(
      `UPDATE ingest_runs SET status = $2, created_at = $3,
         finished_at = CASE WHEN $2 IN ('succeeded', 'failed') THEN $3::timestamptz + interval '2 seconds' END
       WHERE id = $1`,
      [id, run.status, run.createdAt],
    );
    return id;
  }

  /** Every run's id in the order the API promises, as PostgreSQL orders them. */
  async function expectedOrder(where = 'true', values: unknown[] = []): Promise<string[]> {
    const { rows } = await database.pool.query<{ id: string }>(
      `SELECT id FROM ingest_runs WHERE ${where} ORDER BY created_at DESC, id DESC`,
      values,
    );
    return rows.map((row) => row.id);
  }

  async function walk(query: Record<string, string>): Promise<string[][]> {
    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof queryRuns>> = await queryRuns(
        database.pool,
        { ...query, ...(cursor === null ? {} : { cursor }) },
        SEEDER,
      );
      pages.push(page.data.map((run) => run.runId));
      cursor = page.nextCursor;
    } while (cursor !== null && pages.length < 100);
    return pages;
  }

  beforeAll(async () => {
    dataKeyId = randomUUID();
    await insertDataKey(database.pool, {
      id: dataKeyId,
      purpose: 'run',
      masterKeyId: 'local',
      encryptedKey: randomBytes(24),
      encryptionContext: { purpose: 'run', runId: 'none' },
    });
    for (const run of FIXTURE) await seed(run);
    // Filler past the default page, older than the fixture.
    for (let n = 0; n < RUN_PAGE_DEFAULT; n += 1) {
      await seed({
        status: 'succeeded',
        source: 'api',
        createdAt: `2029-06-01T00:00:${String(n % 60).padStart(2, '0')}Z`,
      });
    }
  });

  it('lists runs newest first, runs created in the same microsecond by id, descending', async () => {
    // Act
    const page = await queryRuns(database.pool, { limit: String(RUN_PAGE_MAX) }, SEEDER);

    // Assess
    expect(page.data.map((run) => run.runId)).toStrictEqual(await expectedOrder());
    expect(page.nextCursor).toBeNull();
  });

  it.each<[string, Record<string, string>, string, unknown[]]>([
    ['one status', { status: 'failed' }, "status = 'failed'", []],
    ['two statuses', { status: 'queued,running' }, "status IN ('queued', 'running')", []],
    ['a status given twice', { status: 'failed,failed' }, "status = 'failed'", []],
    ['the source', { source: 'queue' }, "source = 'queue'", []],
    // A Date keeps milliseconds: the filters are that precise, the cursor to the microsecond.
    [
      'from (inclusive)',
      { from: '2030-01-02T00:00:00.123Z' },
      "created_at >= '2030-01-02T00:00:00.123Z'",
      [],
    ],
    ['to (exclusive)', { to: '2030-01-01T12:00:00Z' }, 'created_at < $1', ['2030-01-01T12:00:00Z']],
    [
      'from, to, status and source together',
      { from: '2030-01-01', to: '2030-01-03', status: 'succeeded,failed', source: 'api' },
      "created_at >= '2030-01-01' AND created_at < '2030-01-03' AND status IN ('succeeded', 'failed') AND source = 'api'",
      [],
    ],
  ])('filters by %s', async (_, query, where, values) => {
    // Prepare
    const expected = await expectedOrder(where, values);

    // Act
    const page = await queryRuns(database.pool, { ...query, limit: String(RUN_PAGE_MAX) }, SEEDER);

    // Assess
    expect(expected.length).toBeGreaterThan(0);
    expect(page.data.map((run) => run.runId)).toStrictEqual(expected);
  });

  it.each([1, 2, 3, 7])(
    'walks every run with limit %i: each once, in order, across runs that share a created_at',
    async (limit) => {
      // Prepare
      const expected = await expectedOrder();

      // Act
      const pages = await walk({ limit: String(limit) });

      // Assess
      expect(pages.flat()).toStrictEqual(expected);
      expect(pages.slice(0, -1).every((page) => page.length === limit)).toBe(true);
      expect(pages.length).toBe(Math.ceil(expected.length / limit));
    },
  );

  it('walks a filtered set with its filters kept on every page', async () => {
    // Prepare
    const expected = await expectedOrder("status = 'succeeded'");

    // Act
    const pages = await walk({ status: 'succeeded', limit: '2' });

    // Assess
    expect(pages.flat()).toStrictEqual(expected);
  });

  it(`returns ${RUN_PAGE_DEFAULT} runs a page by default, and up to ${RUN_PAGE_MAX}`, async () => {
    // Act
    const first = await queryRuns(database.pool, {}, SEEDER);
    const largest = await queryRuns(database.pool, { limit: String(RUN_PAGE_MAX) }, SEEDER);

    // Assess
    expect(first.data).toHaveLength(RUN_PAGE_DEFAULT);
    expect(first.nextCursor).not.toBeNull();
    expect(largest.data).toHaveLength(FIXTURE.length + RUN_PAGE_DEFAULT);
  });

  it('counts each page’s rejections by reason in one query for the page, never one a run', async () => {
    // Prepare
    const [newest, second] = await expectedOrder();
    await insertRejections(database.pool, newest!, 'validate', [
      { recordIndex: 0, resourceType: 'Patient', reason: 'schema', details: { problems: [] } },
      { recordIndex: 1, resourceType: 'Patient', reason: 'schema', details: { problems: [] } },
      { recordIndex: 2, resourceType: null, reason: 'duplicate-in-batch', details: {} },
    ]);
    await insertRejections(database.pool, second!, 'consentCheck', [
      { recordIndex: 3, resourceType: 'Patient', reason: 'consent', details: {} },
    ]);
    const statements: string[] = [];
    const counting: Queryable = {
      query: <R extends QueryResultRow>(text: string, values: readonly unknown[] = []) => {
        statements.push(text);
        return database.pool.query<R>(text, [...values]);
      },
    };

    // Act
    const page = await queryRuns(counting, { limit: '10' }, SEEDER);

    // Assess
    expect(page.data.slice(0, 3).map((run) => run.rejectedByReason)).toStrictEqual([
      { schema: 2, 'duplicate-in-batch': 1 },
      { consent: 1 },
      {},
    ]);
    expect(statements).toHaveLength(2);
    expect(await readRun(database.pool, newest!, SEEDER)).toStrictEqual(page.data[0]);
  });

  it.each<[string, Record<string, string>, string, string[]]>([
    ['a status outside the list', { status: 'paused' }, '/status', ['paused']],
    ['a list with one bad status', { status: 'failed,Jane Doe' }, '/status', ['Jane Doe']],
    ['an empty status', { status: '' }, '/status', []],
    ['an unknown source', { source: 'Jane Doe' }, '/source', ['Jane Doe']],
    ['from yesterday', { from: 'yesterday' }, '/from', ['yesterday']],
    ['a to that does not exist', { to: '2024-13-45' }, '/to', ['2024-13-45']],
    ['limit 0', { limit: '0' }, '/limit', []],
    ['a limit past the maximum', { limit: String(RUN_PAGE_MAX + 1) }, '/limit', []],
    ['a limit that is no number', { limit: 'Jane' }, '/limit', ['Jane']],
    ['a cursor that is no cursor', { cursor: 'MRN-001' }, '/cursor', ['MRN-001']],
    [
      'a cursor naming no run id',
      { cursor: Buffer.from('1893456000000000.Jane Doe').toString('base64url') },
      '/cursor',
      ['Jane Doe'],
    ],
    [
      'a cursor past the range of a time',
      {
        cursor: Buffer.from(`99999999999999999999.${randomUUID()}`).toString('base64url'),
      },
      '/cursor',
      [],
    ],
    ['an unknown parameter', { 'Jane Doe': '123-45-6789' }, '', ['Jane Doe', '123-45-6789']],
  ])(
    'refuses %s with InputValidationError naming the parameter, not its value',
    async (_, query, path, needles) => {
      // Act
      const parsed = await thrownBy(async () => parseRunQuery(query));
      const queried = await thrownBy(() => queryRuns(database.pool, query, SEEDER));

      // Assess
      for (const error of [parsed, queried]) {
        expect(error).toBeInstanceOf(InputValidationError);
        const invalid = error as InputValidationError;
        expect(invalid.statusCode).toBe(400);
        expect(invalid.problems.map((problem) => problem.path)).toEqual([path]);
        const said = JSON.stringify({ message: invalid.message, problems: invalid.problems });
        for (const needle of needles) expect(said).not.toContain(needle);
      }
    },
  );

  it('takes only the cursors it wrote: the same position spelled otherwise is refused', async () => {
    // Prepare
    const position = { createdAtMicros: '1893542400123456', id: randomUUID() };
    const cursor = encodeRunCursor(position);
    const padded = Buffer.from(`${position.createdAtMicros}.${position.id}`).toString('base64');

    // Act
    const decoded = decodeRunCursor(cursor);

    // Assess
    expect(decoded).toStrictEqual(position);
    expect(decodeRunCursor(`${cursor}=`)).toBeUndefined();
    expect(decodeRunCursor(padded.endsWith('=') ? padded : `${padded}=`)).toBeUndefined();
    expect(
      decodeRunCursor(encodeRunCursor({ ...position, id: position.id.toUpperCase() })),
    ).toBeUndefined();
  });
});

describe('run ownership: a tenant reads its own runs, the operator every run', () => {
  const database = useTestDatabase();
  const tenantA = { subject: 'clinic-a', scopes: ['system/Patient.c', 'user/Patient.r'] };
  const tenantB = { subject: 'clinic-b', scopes: ['system/Patient.c', 'user/Patient.r'] };
  const operator = { subject: 'operations', scopes: ['system/*.rs'] };
  /** Newest first. */
  const runsOf: Record<string, string[]> = { 'clinic-a': [], 'clinic-b': [] };

  beforeAll(async () => {
    const dataKeyId = randomUUID();
    await insertDataKey(database.pool, {
      id: dataKeyId,
      purpose: 'run',
      masterKeyId: 'local',
      encryptedKey: randomBytes(24),
      encryptionContext: { purpose: 'run', runId: 'none' },
    });
    // Interleaved in time, so that a page of one tenant's runs spans the other's.
    for (let n = 0; n < 6; n += 1) {
      const actor = n % 2 === 0 ? 'clinic-a' : 'clinic-b';
      const id = randomUUID();
      await insertIngestRun(database.pool, {
        id,
        format: 'flat',
        source: 'api',
        actor,
        dataKeyId,
        counts: { received: 1 },
      });
      await database.pool.query('UPDATE ingest_runs SET created_at = $2 WHERE id = $1', [
        id,
        `2030-02-0${n + 1}T00:00:00Z`,
      ]);
      await insertRejections(database.pool, id, 'validate', [
        { recordIndex: 0, resourceType: 'Patient', reason: 'schema', details: {} },
      ]);
      runsOf[actor]?.unshift(id);
    }
  });

  /** Every run id the viewer's pages of `limit` hold, page after page. */
  async function listedBy(viewer: typeof tenantA, limit: number): Promise<string[]> {
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof queryRuns>> = await queryRuns(
        database.pool,
        { limit: String(limit), ...(cursor === null ? {} : { cursor }) },
        viewer,
      );
      ids.push(...page.data.map((run) => run.runId));
      cursor = page.nextCursor;
    } while (cursor !== null);
    return ids;
  }

  it.each([1, 2, 50])(
    'lists a tenant only its own runs, newest first, in pages of %i',
    async (limit) => {
      // Act
      const [ofA, ofB] = [await listedBy(tenantA, limit), await listedBy(tenantB, limit)];

      // Assess
      expect(ofA).toStrictEqual(runsOf['clinic-a']);
      expect(ofB).toStrictEqual(runsOf['clinic-b']);
    },
  );

  it('lists the operator every tenant’s runs', async () => {
    // Act
    const listed = await listedBy(operator, 4);

    // Assess
    expect(new Set(listed)).toStrictEqual(
      new Set([...(runsOf['clinic-a'] ?? []), ...(runsOf['clinic-b'] ?? [])]),
    );
    expect(listed).toHaveLength(6);
  });

  it('refuses another tenant’s run exactly as an unknown run: the same error, the same message, no id', async () => {
    // Prepare
    const ofA = runsOf['clinic-a']?.[0] ?? '';
    const unknown = randomUUID();

    // Act
    const outcomes = await Promise.all([
      thrownBy(() => readRun(database.pool, ofA, tenantB)),
      thrownBy(() => readRunRejections(database.pool, ofA, tenantB)),
      thrownBy(() => readRun(database.pool, unknown, tenantB)),
    ]);

    // Assess
    for (const outcome of outcomes) expect(outcome).toBeInstanceOf(RunNotFoundError);
    const messages = (outcomes as RunNotFoundError[]).map((error) => error.message);
    expect(messages).toStrictEqual(Array(3).fill('ingest run requested does not exist'));
    for (const message of messages) expect(message).not.toContain(ofA);
  });

  it('shows a tenant its own run and its rejections, and the operator anyone’s', async () => {
    // Prepare
    const ofA = runsOf['clinic-a']?.[0] ?? '';

    // Act
    const [own, operated] = [
      await readRun(database.pool, ofA, tenantA),
      await readRun(database.pool, ofA, operator),
    ];
    const rejections = await readRunRejections(database.pool, ofA, operator);

    // Assess
    expect(own).toMatchObject({ runId: ofA, submitter: 'clinic-a' });
    expect(operated).toStrictEqual(own);
    expect(rejections).toMatchObject({ runId: ofA, data: [{ recordIndex: 0, reason: 'schema' }] });
  });

  it.each([
    ['system/*.rs', 'every-tenant'],
    ['system/*.read', 'every-tenant'],
    ['system/*.*', 'every-tenant'],
    ['user/*.rs', { submitter: 'someone' }],
    ['system/Patient.rs', { submitter: 'someone' }],
    ['system/*.r', { submitter: 'someone' }],
  ])('makes a token holding %s see %o', (scope, owner) => {
    // Act
    const seen = runOwnerOf({ subject: 'someone', scopes: [scope] });

    // Assess
    expect(seen).toStrictEqual(owner);
  });
});
