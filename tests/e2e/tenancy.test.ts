import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../lib/api/routes.ts';
import { encodeRunCursor } from '../../lib/api/runQueries.ts';
import { bundle, consentFor, patientResource } from '../helpers/fhir.ts';
import { type ApiResponse, call, waitForRun } from './api.ts';
import { tokenAs } from './principals.ts';

/**
 * Who may see what, over HTTP against the running stack: two tenants (A and B, the same
 * scopes, other subjects), the operator (system/*.rs) and a SMART patient app for A's patient
 * and one for B's. A run belongs to the tenant that submitted it; patient data is one clinical
 * store, shared by every tenant allowed to read patients.
 */

const TAG = randomUUID().slice(0, 8);
const PRINCIPALS = ['tenantA', 'tenantB', 'operator', 'patientA', 'patientB'] as const;
type PrincipalName = (typeof PRINCIPALS)[number];
type RouteName = keyof typeof ROUTES;

const TENANT_SCOPES = [
  'system/Patient.c',
  'user/Patient.r',
  'user/Observation.rs',
  'user/Condition.rs',
];
const PATIENT_APP_SCOPES = ['patient/Patient.r', 'patient/Observation.rs', 'patient/Condition.rs'];

interface TenantData {
  readonly subject: string;
  readonly mrn: string;
  readonly family: string;
  readonly runId: string;
  /** The Idempotency-Key and body of the run's submission. */
  readonly idempotencyKey: string;
  readonly body: string;
  readonly patientId: string;
  readonly observationId: string;
  readonly createdAt: string;
}

interface Request {
  readonly method: string;
  readonly path: string;
  readonly body?: string;
  readonly headers?: Record<string, string>;
}

/** A tenant's batch: a consented patient, an Observation and a Condition of theirs, and one Observation the schema refuses. */
function tenantBatch(tag: string, mrn: string, family: string): string {
  const patient = `pat-${tag}`;
  return bundle('transaction', [
    { fullUrl: `urn:uuid:${patient}`, resource: patientResource(patient, mrn, family) },
    { resource: consentFor(`Patient/${patient}`) },
    {
      resource: {
        resourceType: 'Observation',
        id: `obs-${tag}`,
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
        subject: { reference: `Patient/${patient}` },
        effectiveDateTime: '2024-03-01T10:00:00Z',
        valueQuantity: { value: 72, unit: '/min' },
      },
    },
    {
      resource: {
        resourceType: 'Condition',
        id: `cond-${tag}`,
        code: { coding: [{ system: 'http://snomed.info/sct', code: '44054006' }] },
        subject: { reference: `Patient/${patient}` },
        onsetDateTime: '2023-05-01',
      },
    },
    // No status and no code: the schema's rejection, so that the run has rejections to list.
    {
      resource: {
        resourceType: 'Observation',
        id: `bad-${tag}`,
        subject: { reference: `Patient/${patient}` },
      },
    },
  ]);
}

async function submitAs(subject: string, letter: string): Promise<TenantData> {
  const writer = await tokenAs(subject, TENANT_SCOPES);
  const mrn = `MRN-TEN-${letter}-${TAG}`;
  const family = `Tenancy${letter}${TAG}`;
  const body = tenantBatch(`${letter.toLowerCase()}-${TAG}`, mrn, family);
  const idempotencyKey = `tenancy-${letter}-${TAG}`;
  const accepted = await call('POST', '/api/v1/ingest', {
    token: writer,
    body,
    headers: { 'content-type': 'application/fhir+json', 'idempotency-key': idempotencyKey },
  });
  expect(accepted.status).toBe(202);
  const run = await waitForRun(accepted.json.runId, writer);
  expect(run).toMatchObject({ status: 'succeeded', rejectedByReason: { schema: 1 } });
  const found = await call('GET', `/api/v1/patients?mrn=${mrn}`, { token: writer });
  const patientId: string = found.json.data[0].id;
  const observations = await call('GET', `/fhir/r4/Observation?patient=${patientId}`, {
    token: writer,
  });
  const observationId: string = observations.json.entry[0].resource.id;
  return {
    subject,
    mrn,
    family,
    runId: run.runId,
    idempotencyKey,
    body,
    patientId,
    observationId,
    createdAt: run.createdAt,
  };
}

describe('tenancy: runs per tenant, patient data shared, patient apps confined', () => {
  let a: TenantData;
  let b: TenantData;
  const tokens = {} as Record<PrincipalName, string>;
  /** Every run id of tenant A: the setup's, and those the matrix's own requests start. */
  const runsOfA = new Set<string>();
  let docsAsset: string;

  beforeAll(async () => {
    [a, b] = await Promise.all([
      submitAs(`tenant-a-${TAG}`, 'A'),
      submitAs(`tenant-b-${TAG}`, 'B'),
    ]);
    runsOfA.add(a.runId);
    tokens.tenantA = await tokenAs(a.subject, TENANT_SCOPES);
    tokens.tenantB = await tokenAs(b.subject, TENANT_SCOPES);
    tokens.operator = await tokenAs(`operator-${TAG}`, ['system/*.rs']);
    tokens.patientA = await tokenAs(`app-a-${TAG}`, PATIENT_APP_SCOPES, a.patientId);
    tokens.patientB = await tokenAs(`app-b-${TAG}`, PATIENT_APP_SCOPES, b.patientId);
    const docs = await call('GET', '/docs');
    docsAsset = /\/docs\/assets\/([A-Za-z0-9._-]+)/.exec(docs.text)?.[1] ?? 'missing';
  }, 180_000);

  /**
   * Each route's request, aimed at tenant A's run and patient, and the status each principal
   * gets: tenantA, tenantB, operator, patientA, patientB. Typed by ROUTES, so that a new route
   * without its row does not compile, and checked against ROUTES at run time besides.
   */
  const MATRIX: Record<RouteName, { request: () => Request; statuses: readonly number[] }> = {
    // B sends A's key and body: a run of its own, never A's run replayed.
    ingestBatch: {
      request: () => ({
        method: 'POST',
        path: '/api/v1/ingest',
        body: a.body,
        headers: { 'content-type': 'application/fhir+json', 'idempotency-key': a.idempotencyKey },
      }),
      statuses: [202, 202, 403, 403, 403],
    },
    // A's run succeeded, so only A learns that (409); B is told it does not exist.
    redriveRun: {
      request: () => ({ method: 'POST', path: `/api/v1/runs/${a.runId}/redrive` }),
      statuses: [409, 404, 403, 403, 403],
    },
    changeConsent: {
      request: () => ({
        method: 'PUT',
        path: `/api/v1/patients/${a.patientId}/consent`,
        body: JSON.stringify({ dataSharing: true, research: false }),
        headers: { 'content-type': 'application/json' },
      }),
      statuses: [403, 403, 403, 403, 403],
    },
    listAudit: {
      request: () => ({ method: 'GET', path: '/api/v1/audit?limit=5' }),
      statuses: [403, 403, 200, 403, 403],
    },
    verifyAudit: {
      request: () => ({ method: 'GET', path: '/api/v1/audit/verify' }),
      statuses: [403, 403, 200, 403, 403],
    },
    listRuns: {
      request: () => ({ method: 'GET', path: '/api/v1/runs?limit=500' }),
      statuses: [200, 200, 200, 403, 403],
    },
    getRun: {
      request: () => ({ method: 'GET', path: `/api/v1/runs/${a.runId}` }),
      statuses: [200, 404, 200, 403, 403],
    },
    listRunRejections: {
      request: () => ({ method: 'GET', path: `/api/v1/runs/${a.runId}/rejections` }),
      statuses: [200, 404, 200, 403, 403],
    },
    getRunHistory: {
      request: () => ({ method: 'GET', path: `/api/v1/runs/${a.runId}/history` }),
      statuses: [200, 404, 200, 403, 403],
    },
    // Patient data is one clinical store: B reads A's consented patient by design.
    getPatient: {
      request: () => ({ method: 'GET', path: `/api/v1/patients/${a.patientId}` }),
      statuses: [200, 200, 403, 200, 404],
    },
    searchPatients: {
      request: () => ({ method: 'GET', path: `/api/v1/patients?mrn=${a.mrn}` }),
      statuses: [200, 200, 403, 200, 200],
    },
    readFhirPatient: {
      request: () => ({ method: 'GET', path: `/fhir/r4/Patient/${a.patientId}` }),
      statuses: [200, 200, 403, 200, 404],
    },
    searchFhirObservations: {
      request: () => ({ method: 'GET', path: `/fhir/r4/Observation?patient=${a.patientId}` }),
      statuses: [200, 200, 403, 200, 404],
    },
    getFhirMetadata: {
      request: () => ({ method: 'GET', path: '/fhir/r4/metadata' }),
      statuses: [200, 200, 200, 200, 200],
    },
    readFhirResource: {
      request: () => ({ method: 'GET', path: `/fhir/r4/Observation/${a.observationId}` }),
      statuses: [200, 200, 200, 200, 404],
    },
    searchFhirResources: {
      request: () => ({ method: 'GET', path: `/fhir/r4/Condition?patient=${a.patientId}` }),
      statuses: [200, 200, 200, 200, 404],
    },
    readFhirPatientEverything: {
      request: () => ({ method: 'GET', path: `/fhir/r4/Patient/${a.patientId}/$everything` }),
      statuses: [200, 200, 200, 200, 404],
    },
    getHealth: {
      request: () => ({ method: 'GET', path: '/health' }),
      statuses: [200, 200, 200, 200, 200],
    },
    getOpenApiDocument: {
      request: () => ({ method: 'GET', path: '/openapi.json' }),
      statuses: [200, 200, 200, 200, 200],
    },
    getApiDocs: {
      request: () => ({ method: 'GET', path: '/docs' }),
      statuses: [200, 200, 200, 200, 200],
    },
    getApiDocsAsset: {
      request: () => ({ method: 'GET', path: `/docs/assets/${docsAsset}` }),
      statuses: [200, 200, 200, 200, 200],
    },
    getConsole: {
      request: () => ({ method: 'GET', path: '/console' }),
      statuses: [200, 200, 200, 200, 200],
    },
    getConsoleAsset: {
      request: () => ({ method: 'GET', path: '/console/assets/console.js' }),
      statuses: [200, 200, 200, 200, 200],
    },
    routeNotFound: {
      request: () => ({ method: 'GET', path: '/api/v1/nowhere' }),
      statuses: [404, 404, 404, 404, 404],
    },
  };

  /** What must never reach each principal: A's run ids to anyone but A and the operator; A's patient to patient B. */
  function forbiddenTo(principal: PrincipalName): string[] {
    const patientOfA = [a.patientId, a.mrn, a.family, a.observationId];
    switch (principal) {
      case 'tenantA':
      case 'operator':
        return [];
      case 'tenantB':
      case 'patientA':
        return [...runsOfA];
      case 'patientB':
        return [...runsOfA, ...patientOfA];
    }
  }

  function send(principal: PrincipalName, request: Request): Promise<ApiResponse> {
    return call(request.method, request.path, {
      token: tokens[principal],
      ...(request.body === undefined ? {} : { body: request.body }),
      ...(request.headers === undefined ? {} : { headers: request.headers }),
    });
  }

  it('has a row for every route of ROUTES, and only those', () => {
    // Assess
    expect(Object.keys(MATRIX).sort()).toStrictEqual(Object.keys(ROUTES).sort());
  });

  it('answers every route and principal with the status its cell names, and leaks nothing', async () => {
    // Act: A's own requests first, so that the runs they start are A's runs the others must not see.
    const cells: Array<{ cell: string; status: number; expected: number }> = [];
    const leaks: string[] = [];
    for (const principal of PRINCIPALS) {
      for (const [route, { request, statuses }] of Object.entries(MATRIX)) {
        const response = await send(principal, request());
        const expected = statuses[PRINCIPALS.indexOf(principal)] ?? -1;
        cells.push({ cell: `${route} as ${principal}`, status: response.status, expected });
        if (principal === 'tenantA' && route === 'ingestBatch' && response.status === 202) {
          runsOfA.add(response.json.runId);
        }
        for (const secret of forbiddenTo(principal)) {
          if (response.text.includes(secret)) leaks.push(`${route} as ${principal}`);
        }
      }
    }

    // Assess
    expect(cells.filter(({ status, expected }) => status !== expected)).toStrictEqual([]);
    expect(cells).toHaveLength(PRINCIPALS.length * Object.keys(ROUTES).length);
    expect(leaks).toStrictEqual([]);
  });

  it('replays A’s Idempotency-Key to A alone: B sending the same key and body gets a run of its own', async () => {
    // Act
    const [fromA, fromB] = [
      await send('tenantA', MATRIX.ingestBatch.request()),
      await send('tenantB', MATRIX.ingestBatch.request()),
    ];

    // Assess
    expect(fromA.json).toMatchObject({ runId: a.runId, outcome: 'replayed' });
    expect(fromB.status).toBe(202);
    expect(fromB.json.runId).not.toBe(a.runId);
    expect(runsOfA.has(fromB.json.runId)).toBe(false);
    const ownRun = await call('GET', `/api/v1/runs/${fromB.json.runId}`, { token: tokens.tenantB });
    expect(ownRun.json).toMatchObject({ submitter: b.subject });
    expect(
      (await send('tenantA', { method: 'GET', path: `/api/v1/runs/${fromB.json.runId}` })).status,
    ).toBe(404);
  });

  it('lists each tenant its own runs only, and the operator both tenants’ runs', async () => {
    // Act
    const listed = async (principal: PrincipalName) =>
      new Set<string>(
        (await send(principal, { method: 'GET', path: '/api/v1/runs?limit=500' })).json.data.map(
          (run: { runId: string }) => run.runId,
        ),
      );
    const [ofA, ofB, ofOperator] = [
      await listed('tenantA'),
      await listed('tenantB'),
      await listed('operator'),
    ];

    // Assess
    expect(ofA.has(a.runId)).toBe(true);
    expect(ofA.has(b.runId)).toBe(false);
    expect(ofB.has(b.runId)).toBe(true);
    expect(ofB.has(a.runId)).toBe(false);
    expect(ofOperator.has(a.runId) && ofOperator.has(b.runId)).toBe(true);
  });

  it('lets an operator that also submits act on A’s run: re-drive sees it (409: it succeeded), not 404', async () => {
    // Prepare
    const operatorSubmitter = await tokenAs(`operator-c-${TAG}`, [
      'system/*.rs',
      'system/Patient.c',
    ]);

    // Act
    const redrive = await call('POST', `/api/v1/runs/${a.runId}/redrive`, {
      token: operatorSubmitter,
    });
    const unknown = await call('POST', `/api/v1/runs/${randomUUID()}/redrive`, {
      token: operatorSubmitter,
    });

    // Assess
    expect(redrive.status).toBe(409);
    expect(unknown.status).toBe(404);
  });

  it('answers B for A’s run exactly as for a run that does not exist (no oracle)', async () => {
    // Prepare
    const unknown = randomUUID();
    const shapeOf = (response: ApiResponse) => ({
      status: response.status,
      contentType: response.headers.get('content-type'),
      body: { ...response.json, correlationId: 'x' },
    });

    // Act
    const forA = await send('tenantB', { method: 'GET', path: `/api/v1/runs/${a.runId}` });
    const forUnknown = await send('tenantB', { method: 'GET', path: `/api/v1/runs/${unknown}` });

    // Assess
    expect(shapeOf(forA)).toStrictEqual(shapeOf(forUnknown));
    expect(forA.status).toBe(404);
    expect(forA.text).not.toContain(a.runId);
  });

  it('property: no request of tenant B’s, built from A’s run ids, answers with any run id of A’s', async () => {
    // Prepare
    const createdMicros = String(Date.parse(a.createdAt) * 1000 + 1);
    const aRun = fc.constantFrom(...runsOfA);
    const spelling = fc.constantFrom(
      (id: string) => id,
      (id: string) => id.toUpperCase(),
      (id: string) => encodeURIComponent(id),
    );
    const requestOf = fc.oneof(
      fc
        .tuple(aRun, spelling, fc.constantFrom('', '/rejections', '/history', '/redrive'))
        .map(([id, spell, suffix]) => ({
          method: suffix === '/redrive' ? 'POST' : 'GET',
          path: `/api/v1/runs/${spell(id)}${suffix}`,
        })),
      fc
        .tuple(
          aRun,
          fc.constantFrom('', 'status=succeeded', 'source=api', 'limit=1', `from=${a.createdAt}`),
        )
        .map(([id, filter]) => ({
          method: 'GET',
          path: `/api/v1/runs?${filter}&cursor=${encodeRunCursor({ createdAtMicros: createdMicros, id })}`,
        })),
      fc
        .constantFrom('', 'limit=500', 'status=succeeded,failed', `to=${new Date().toISOString()}`)
        .map((filter) => ({ method: 'GET', path: `/api/v1/runs?${filter}` })),
      aRun.map((id) => ({
        method: 'GET',
        path: `/api/v1/audit?actor=${a.subject}&limit=5&run=${id}`,
      })),
    );

    // Act, Assess
    await fc.assert(
      fc.asyncProperty(requestOf, async (request) => {
        const response = await send('tenantB', request);
        expect(response.status).toBeLessThan(500);
        for (const runId of runsOfA) expect(response.text.toLowerCase()).not.toContain(runId);
      }),
      { numRuns: 150, seed: 17_2026 },
    );
  });
});
