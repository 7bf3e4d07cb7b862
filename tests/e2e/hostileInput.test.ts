import { randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { type ApiResponse, call, ingest, query, token, waitForRun } from './api.ts';
import { hostilePayload, SQL_INJECTIONS } from './hostilePayloads.ts';
import { tokenAs } from './principals.ts';
import { mapConcurrently } from './workerPool.ts';

const TAG = randomBytes(4).toString('hex');
const PROBLEM_JSON = /^application\/problem\+json/;

const FUZZ_PAYLOADS = 2_000;
const FUZZ_CONCURRENCY = 8;

function isProblem(response: ApiResponse): boolean {
  return (
    PROBLEM_JSON.test(response.headers.get('content-type') ?? '') &&
    typeof response.json?.type === 'string' &&
    typeof response.json?.title === 'string' &&
    response.json?.status === response.status
  );
}

async function tableCounts(): Promise<Record<string, number>> {
  const tables = await query<{ name: string }>(
    "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
  );
  const counted = await query<Record<string, number>>(
    `SELECT ${tables.map(({ name }) => `(SELECT count(*)::int FROM public."${name}") AS "${name}"`).join(', ')}`,
  );
  return counted[0] ?? {};
}

/** What one fuzzed request came to: its status, its run's end, and what was wrong, if anything. */
interface FuzzOutcome {
  readonly kind: string;
  readonly status: string;
  readonly run?: string;
  readonly runId?: string;
  readonly violation?: string;
}

/** A run as GET /api/v1/runs/{runId} shows it, as far as its counts go. */
interface RunCounts {
  readonly counts: Readonly<Record<string, number>>;
  readonly rejectedByReason: Readonly<Record<string, number>>;
}

const NEVER_IN_FHIR_RESOURCES = /^(Bundle|Binary|Parameters|OperationOutcome|Patient|Consent)$/;
const TYPE_OUTCOME = /^[A-Z][A-Za-z]+\.(created|updated|unchanged)$/;

/** The rules a succeeded run's counts keep whatever it was sent, each one it breaks named. */
function countRulesBroken({ counts, rejectedByReason }: RunCounts): string[] {
  const count = (key: string) => counts[key] ?? 0;
  const sum = (values: readonly number[]) => values.reduce((total, value) => total + value, 0);
  const fhir = 'resourcesLoaded' in counts;
  const stored = count('loaded') + count('resourcesLoaded') + count('rejected');
  const rules: ReadonlyArray<readonly [string, boolean]> = [
    ['extracted = received', count('extracted') === count('received')],
    ['rejected = Σ rejectedByReason', count('rejected') === sum(Object.values(rejectedByReason))],
    [
      'loaded = created + updated + unchanged',
      count('loaded') === count('created') + count('updated') + count('unchanged'),
    ],
    [
      'resourcesLoaded = Σ <Type>.created/updated/unchanged',
      count('resourcesLoaded') ===
        sum(Object.entries(counts).flatMap(([key, n]) => (TYPE_OUTCOME.test(key) ? [n] : []))),
    ],
    [
      'resourcesLoaded = resourcesTransformed',
      count('resourcesLoaded') === count('resourcesTransformed'),
    ],
    // A FHIR batch's Consents are neither loaded nor rejected; a flat record is one or the other.
    [
      fhir ? 'loaded + resourcesLoaded + rejected ≤ received' : 'loaded + rejected = received',
      fhir ? stored <= count('received') : stored === count('received'),
    ],
  ];
  return rules.flatMap(([rule, kept]) => (kept ? [] : [rule]));
}

/** A request and how long it took, to tell a pg_sleep that ran from one that did not. */
async function timed(
  method: string,
  path: string,
  options: Parameters<typeof call>[2],
): Promise<ApiResponse & { ms: number }> {
  const started = performance.now();
  const response = await call(method, path, options);
  return { ...response, ms: performance.now() - started };
}

describe('hostile input', () => {
  it(`${FUZZ_PAYLOADS} generated payloads: each a 4xx problem+json or a 202 whose run succeeds; never a 5xx`, {
    timeout: 900_000,
  }, async () => {
    // Prepare
    const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
    const payloads = fc.sample(hostilePayload, { seed: 4_2024, numRuns: FUZZ_PAYLOADS });
    // A client (subject) per payload: the request rate is kept per subject, and the sweep
    // with its polling would outrun one; its run is read back by the same client.
    const tokenFor = (index: number) => tokenAs(`e2e-fuzz-${index}`, ['system/Patient.c']);
    const started = performance.now();

    // Act: each worker waits for the run it started before its next request, so at most
    // FUZZ_CONCURRENCY runs are in flight, as with a client pool of that size.
    const outcomes = await mapConcurrently(
      payloads,
      FUZZ_CONCURRENCY,
      async (sent, index): Promise<FuzzOutcome> => {
        const label = `#${index} (${sent.kind})`;
        const { kind } = sent;
        const client = await tokenFor(index);
        let response: ApiResponse;
        try {
          response = await call('POST', '/api/v1/ingest', {
            token: client,
            body: sent.body,
            ...(sent.contentType === undefined
              ? {}
              : { headers: { 'content-type': sent.contentType } }),
          });
        } catch (error) {
          const cause = error instanceof Error ? String(error.cause ?? error.message) : 'unknown';
          return { kind, status: 'no answer', violation: `${label}: no answer (${cause})` };
        }
        const answer = `${label}: HTTP ${response.status} ${response.headers.get('content-type')} ${response.text.slice(0, 200)}`;
        if (response.status === 202 && typeof response.json?.runId === 'string') {
          const run = await waitForRun(response.json.runId, client, 300_000);
          const broken = run.status === 'succeeded' ? countRulesBroken(run) : [];
          return {
            kind,
            status: '202',
            run: run.status as string,
            runId: response.json.runId,
            ...(run.status === 'succeeded'
              ? {}
              : {
                  violation: `${answer}: run ${run.status} (${run.errorCode}) at ${run.currentStage}`,
                }),
            ...(broken.length === 0
              ? {}
              : {
                  violation: `${label}: run ${response.json.runId} counts break ${broken.join('; ')}: ${JSON.stringify(run.counts)} ${JSON.stringify(run.rejectedByReason)}`,
                }),
          };
        }
        const isClientProblem =
          response.status >= 400 && response.status < 500 && isProblem(response);
        return {
          kind,
          status: String(response.status),
          ...(isClientProblem ? {} : { violation: answer }),
        };
      },
    );
    const health = await call('GET', '/health');
    const seconds = (performance.now() - started) / 1000;
    const tally = (of: readonly FuzzOutcome[]) =>
      Object.entries(Object.groupBy(of, ({ status }) => status))
        .map(([status, group]) => `${status}: ${group?.length ?? 0}`)
        .join(', ');
    console.log(
      `fuzz: ${outcomes.length} payloads posted and every accepted run ended in ${seconds.toFixed(1)} s (${tally(outcomes)})\n${Object.entries(
        Object.groupBy(outcomes, ({ kind }) => kind),
      )
        .map(([kind, group]) => `  ${kind}: ${group?.length ?? 0} (${tally(group ?? [])})`)
        .join('\n')}`,
    );
    const runIds = outcomes.flatMap(({ runId }) => (runId === undefined ? [] : [runId]));
    // Each consent rejection comes with its audited denial, and nothing else does.
    const unaudited = await query<{ run_id: string; rejected: number; denied: number }>(
      `SELECT run_id::text, coalesce(r.n, 0) AS rejected, coalesce(a.n, 0) AS denied
       FROM (SELECT run_id, count(*)::int AS n FROM rejections
             WHERE run_id = ANY($1::uuid[]) AND reason = 'consent' GROUP BY run_id) r
       FULL JOIN (SELECT run_id, count(*)::int AS n FROM audit_log
                  WHERE run_id = ANY($1::uuid[]) AND action = 'DENY' GROUP BY run_id) a
       USING (run_id)
       WHERE coalesce(r.n, 0) <> coalesce(a.n, 0)`,
      [runIds],
    );
    const storedTypes = await query<{ type: string; count: number }>(
      `SELECT resource_type AS type, count(*)::int AS count FROM fhir_resources
       WHERE created_run_id = ANY($1::uuid[]) OR updated_run_id = ANY($1::uuid[])
       GROUP BY resource_type ORDER BY resource_type`,
      [runIds],
    );
    console.log(
      `fuzz: stored ${storedTypes.map(({ type, count }) => `${type} ${count}`).join(', ')}`,
    );

    // Assess
    const violations = outcomes.flatMap(({ violation }) =>
      violation === undefined ? [] : [violation],
    );
    expect(violations, violations.join('\n')).toEqual([]);
    expect(outcomes.filter(({ run }) => run === 'succeeded').length).toBeGreaterThan(0);
    expect(unaudited).toEqual([]);
    // The refused types are never stored, nor Patients and Consents among the other resources.
    expect(storedTypes.filter(({ type }) => NEVER_IN_FHIR_RESOURCES.test(type))).toEqual([]);
    // The fuzz reaches storage for patient data and shared types alike.
    expect(storedTypes.map(({ type }) => type)).toEqual(
      expect.arrayContaining([
        ...['Condition', 'Encounter', 'Observation', 'MedicationRequest', 'DocumentReference'],
        ...['Device', 'Practitioner', 'Organization', 'Location', 'PractitionerRole'],
      ]),
    );
    expect(outcomes.length).toBeGreaterThanOrEqual(2_000);
    expect(health.status).toBe(200);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  describe('SQL injection strings are stored or refused, never executed', () => {
    const admin = ['system/Patient.c', 'user/Patient.r', 'user/Consent.u', 'system/AuditEvent.r'];
    beforeAll(async () => {
      // Warm every route first, so a cold start is not taken for a pg_sleep.
      const bearer = await token(admin);
      const someRun = await ingest(
        [{ resourceType: 'Patient', mrn: `SQLI-WARM-${TAG}`, consent: { data_sharing: true } }],
        bearer,
      );
      const runId: string = someRun.json.runId;
      await waitForRun(runId, bearer);
      const id = randomUUID();
      await Promise.all([
        call('GET', `/api/v1/runs/${runId}/rejections`, { token: bearer }),
        call('POST', `/api/v1/runs/${id}/redrive`, { token: bearer }),
        call('GET', `/api/v1/patients/${id}`, { token: bearer }),
        call('GET', `/api/v1/patients?mrn=SQLI-WARM-${TAG}`, { token: bearer }),
        call('PUT', `/api/v1/patients/${id}/consent`, {
          token: bearer,
          body: '{"data_sharing":true}',
          headers: { 'content-type': 'application/json' },
        }),
        call('GET', '/api/v1/audit?limit=1', { token: bearer }),
      ]);
    });

    it('in every field of a flat record: the valid ones load encrypted and read back exactly', async () => {
      // Prepare
      const writer = await token(['system/Patient.c']);
      const reader = await token(['user/Patient.r']);
      const before = await tableCounts();
      const base = (i: number, field: string) => ({
        resourceType: 'Patient',
        mrn: `SQLI-${TAG}-${field}-${i}`,
        name: 'Robert Tables',
        birthDate: '1970-01-01',
        gender: 'male',
        ssn: '999-00-1234',
        consent: { data_sharing: true, research: false } as Record<string, boolean>,
      });
      const records = SQL_INJECTIONS.flatMap((injection, i) => [
        { ...base(i, 'resourceType'), resourceType: injection },
        { ...base(i, 'mrn'), mrn: injection },
        { ...base(i, 'name'), name: injection },
        { ...base(i, 'birthDate'), birthDate: injection },
        { ...base(i, 'gender'), gender: injection },
        { ...base(i, 'ssn'), ssn: injection },
        { ...base(i, 'consent'), consent: { [injection]: true, data_sharing: true } },
      ]);

      // Act
      const started = performance.now();
      const accepted = await ingest(records, writer);
      const acceptMs = performance.now() - started;
      const run = await waitForRun(accepted.json.runId, writer);
      const rejections = await call('GET', `/api/v1/runs/${accepted.json.runId}/rejections`, {
        token: writer,
      });
      // One at a time: a second concurrent call would start a cold Lambda worker.
      const byName = [];
      const byMrn = [];
      for (const [i, injection] of SQL_INJECTIONS.entries()) {
        byName.push(
          await timed('GET', `/api/v1/patients?mrn=SQLI-${TAG}-name-${i}`, { token: reader }),
        );
        byMrn.push(
          await timed('GET', `/api/v1/patients?mrn=${encodeURIComponent(injection)}`, {
            token: reader,
          }),
        );
      }
      const after = await tableCounts();
      const inPlaintext = await Promise.all(
        SQL_INJECTIONS.map(async (injection) => {
          const [row] = await query<{ count: number }>(
            `SELECT count(*)::int AS count FROM patients
             WHERE position(convert_to($1, 'UTF8') IN mrn_enc) > 0
                OR position(convert_to($1, 'UTF8') IN name_enc) > 0
                OR position(convert_to($1, 'UTF8') IN source_enc) > 0`,
            [injection],
          );
          return row?.count;
        }),
      );

      // Assess
      expect(accepted.status).toBe(202);
      expect(acceptMs).toBeLessThan(2_000);
      expect(inPlaintext).toEqual(SQL_INJECTIONS.map(() => 0));
      expect(run).toMatchObject({ status: 'succeeded', counts: { received: 35, loaded: 15 } });
      const rejected = rejections.json.data.map(
        (rejection: { recordIndex: number; reason: string }) =>
          `${rejection.recordIndex % 7}:${rejection.reason}`,
      );
      expect(rejected.sort()).toEqual(
        SQL_INJECTIONS.flatMap(() => ['0:schema', '3:schema', '4:schema', '5:schema']).sort(),
      );
      expect(byName.map((response) => response.json.data[0].name)).toEqual([...SQL_INJECTIONS]);
      expect(byMrn.map((response) => response.json.data[0].mrn)).toEqual([...SQL_INJECTIONS]);
      for (const response of [...byName, ...byMrn]) expect(response.ms).toBeLessThan(2_000);
      expect(Object.keys(after)).toEqual(Object.keys(before));
      for (const [table, count] of Object.entries(before)) {
        expect(after[table], table).toBeGreaterThanOrEqual(count);
      }
      expect(after['patients']).toBe((before['patients'] ?? 0) + run.counts.created);
      expect(after['consents']).toBe((before['consents'] ?? 0) + run.counts.created);
      expect(after['ingest_runs']).toBe((before['ingest_runs'] ?? 0) + 1);
      expect(after['rejections']).toBe((before['rejections'] ?? 0) + 20);
      expect(run.counts.created + run.counts.updated + run.counts.unchanged).toBe(15);
    });

    it.each(SQL_INJECTIONS)(
      'in every query parameter and path id: %s → 4xx, not run',
      async (injection) => {
        // Prepare
        const bearer = await token(admin);
        const before = await tableCounts();
        const value = encodeURIComponent(injection);
        const requests: Array<readonly [string, string, number]> = [
          ...['patient', 'actor', 'action', 'from', 'to', 'limit', 'cursor'].map(
            (name) => ['GET', `/api/v1/audit?${name}=${value}`, 400] as const,
          ),
          ['GET', `/api/v1/patients/${value}`, 404],
          ['GET', `/api/v1/runs/${value}`, 404],
          ['GET', `/api/v1/runs/${value}/rejections`, 404],
          ['POST', `/api/v1/runs/${value}/redrive`, 404],
          ['PUT', `/api/v1/patients/${value}/consent`, 404],
        ];

        // Act
        const responses = [];
        for (const [method, path] of requests) {
          responses.push(
            await timed(method, path, {
              token: bearer,
              ...(method === 'PUT'
                ? { body: '{"data_sharing":true}', headers: { 'content-type': 'application/json' } }
                : {}),
            }),
          );
        }
        const after = await tableCounts();

        // Assess
        expect(responses.map((response) => response.status)).toEqual(
          requests.map(([, , status]) => status),
        );
        for (const response of responses) {
          expect(isProblem(response)).toBe(true);
          expect(response.ms).toBeLessThan(2_000);
        }
        for (const table of [
          'patients',
          'consents',
          'consent_history',
          'ingest_runs',
          'rejections',
          'data_keys',
        ]) {
          expect(after[table], table).toBe(before[table]);
        }
        expect(after['audit_log']).toBeGreaterThanOrEqual(before['audit_log'] ?? 0);
      },
    );
  });

  describe('object-level authorization', () => {
    const PATIENT = {
      resourceType: 'Patient',
      mrn: `MRN-OLA-${TAG}`,
      name: 'Olga Ownedby',
      birthDate: '1961-11-09',
      gender: 'female',
      ssn: '999-61-1109',
      consent: { data_sharing: true },
    };
    let patientId: string;

    beforeAll(async () => {
      const writer = await token(['system/Patient.c']);
      const accepted = await ingest([PATIENT], writer);
      await waitForRun(accepted.json.runId, writer);
      const found = await call('GET', `/api/v1/patients?mrn=${PATIENT.mrn}`, {
        token: await token(['user/Patient.r']),
      });
      patientId = found.json.data[0].id;
    });

    it.each([['system/Patient.c'], ['system/AuditEvent.r']])(
      'a token with only %s reads no patient, by id or by MRN, and learns nothing from the denial',
      async (scope) => {
        // Prepare
        const bearer = await token([scope]);
        const withoutCorrelation = (response: ApiResponse) => ({
          status: response.status,
          body: { ...response.json, correlationId: undefined },
        });

        // Act
        const byId = await call('GET', `/api/v1/patients/${patientId}`, { token: bearer });
        const byMrn = await call('GET', `/api/v1/patients?mrn=${PATIENT.mrn}`, { token: bearer });
        const missingId = await call('GET', `/api/v1/patients/${randomUUID()}`, { token: bearer });
        const missingMrn = await call('GET', `/api/v1/patients?mrn=MRN-NOBODY-${TAG}`, {
          token: bearer,
        });

        // Assess
        expect(byId.status).toBe(403);
        expect(byMrn.status).toBe(403);
        expect(byId.json.type).toBe('urn:problem:healthcare-etl:forbidden');
        expect(withoutCorrelation(byId)).toEqual(withoutCorrelation(missingId));
        expect(withoutCorrelation(byMrn)).toEqual(withoutCorrelation(missingMrn));
        for (const response of [byId, byMrn]) {
          for (const value of [PATIENT.name, PATIENT.birthDate, PATIENT.ssn, patientId]) {
            expect(response.text).not.toContain(value);
          }
          expect(response.text).not.toContain(PATIENT.mrn);
        }
      },
    );
  });

  describe('limits', () => {
    it('a name one character over the schema limit is a schema rejection of that record, not a failure', async () => {
      // Prepare
      const writer = await token(['system/Patient.c']);
      const record = (mrn: string, name: string) => ({
        resourceType: 'Patient',
        mrn,
        name,
        consent: { data_sharing: true },
      });

      // Act
      const accepted = await ingest(
        [
          record(`MRN-LONG-201-${TAG}`, 'n'.repeat(201)),
          record(`MRN-LONG-200-${TAG}`, 'n'.repeat(200)),
        ],
        writer,
      );
      const run = await waitForRun(accepted.json.runId, writer);
      const rejections = await call('GET', `/api/v1/runs/${accepted.json.runId}/rejections`, {
        token: writer,
      });

      // Assess
      expect(run).toMatchObject({
        status: 'succeeded',
        counts: { received: 2, loaded: 1, rejected: 1 },
      });
      expect(rejections.json.data).toEqual([
        expect.objectContaining({
          recordIndex: 0,
          reason: 'schema',
          details: { problems: [expect.objectContaining({ path: '/name', keyword: 'maxLength' })] },
        }),
      ]);
    });

    it.each([
      { offset: 0, status: 202 },
      { offset: 1, status: 413 },
    ])('a batch of maxRecordsPerBatch + $offset records → $status', async ({ offset, status }) => {
      // Prepare
      const writer = await token(['system/Patient.c']);
      const size = inject('maxRecordsPerBatch') + offset;
      const records = Array.from({ length: size }, (_, i) => ({
        resourceType: 'Patient',
        mrn: `MRN-BATCH-${offset}-${TAG}-${i}`,
        consent: { data_sharing: true },
      }));

      // Act
      const response = await ingest(records, writer);
      const run = status === 202 ? await waitForRun(response.json.runId, writer) : undefined;

      // Assess
      expect(response.status).toBe(status);
      if (status === 202) {
        expect(run).toMatchObject({
          status: 'succeeded',
          counts: { received: size, loaded: size },
        });
      } else {
        expect(isProblem(response)).toBe(true);
        expect(response.json.type).toBe('urn:problem:healthcare-etl:payload-too-large');
      }
    });

    it('one client fired past its burst gets 429 with Retry-After, whichever of its tokens it sends; another client is served at once', async () => {
      // Prepare: a client of its own, since the bucket is the client's (its subject), not the token's.
      const client = `e2e-rate-${TAG}`;
      const writer = await tokenAs(client, ['system/Patient.c']);
      const accepted = await ingest(
        [{ resourceType: 'Patient', mrn: `MRN-RATE-${TAG}`, consent: { data_sharing: true } }],
        writer,
      );
      const path = `/api/v1/runs/${accepted.json.runId}`;
      const bearers = [
        await tokenAs(client, ['system/Patient.c']),
        await tokenAs(client, ['user/Patient.r']),
      ];

      // Act: burst + 20 requests, and more while none was refused: the bucket refills 10 a
      // second, so a machine slower than ~110 requests a second needs a few more to outrun it.
      // The client's two tokens take turns: they draw from the one bucket of the client.
      const burst = inject('rateLimitBurst');
      const responses: ApiResponse[] = [];
      const limitedTokens = new Set<number>();
      // Eight at a time, the embedded gateway's in-flight limit: none waits in its queue.
      await mapConcurrently(Array.from({ length: burst * 5 }), 8, async (_, index) => {
        if (index >= burst + 20 && limitedTokens.size === bearers.length) return;
        const response = await call('GET', path, { token: bearers[index % bearers.length] ?? '' });
        if (response.status === 429) limitedTokens.add(index % bearers.length);
        responses.push(response);
      });
      const otherClient = await call('GET', '/api/v1/runs?limit=1', {
        token: await tokenAs(`e2e-rate-other-${TAG}`, ['system/Patient.c']),
      });

      // Assess
      const limited = responses.filter((response) => response.status === 429);
      expect(limited.length).toBeGreaterThanOrEqual(1);
      expect(
        responses
          .filter((response) => ![200, 429].includes(response.status))
          .map((response) => `${response.status} ${response.text.slice(0, 160)}`),
      ).toStrictEqual([]);
      // The ingest took one request of the burst.
      expect(responses.filter((response) => response.status === 200).length).toBeGreaterThanOrEqual(
        burst - 1,
      );
      expect([...limitedTokens].sort()).toStrictEqual([0, 1]);
      for (const response of limited) {
        expect(response.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
        expect(isProblem(response)).toBe(true);
        expect(response.json.type).toBe('urn:problem:healthcare-etl:rate-limited');
      }
      expect(otherClient.status).toBe(200);
      expect(otherClient.headers.get('retry-after')).toBeNull();
      console.log(`rate limit: ${responses.length} requests, ${limited.length} refused with 429`);
    });
  });
});
