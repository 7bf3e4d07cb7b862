import { beforeAll, describe, expect, it } from 'vitest';
import { call, ingest, ingestBody, token, waitForRun } from './api.ts';

interface Endpoint {
  readonly route: string;
  readonly method: string;
  readonly path: () => string;
  readonly scope: string;
  /** A real scope that does not grant this endpoint. */
  readonly wrongScope: string;
  readonly body?: string;
}

let runId: string;
let patientId: string;

const endpoints: Endpoint[] = [
  {
    route: 'POST /api/v1/ingest',
    method: 'POST',
    path: () => '/api/v1/ingest',
    scope: 'system/Patient.c',
    wrongScope: 'user/Patient.r',
    body: ingestBody([
      { resourceType: 'Patient', mrn: 'MRN-AUTH-POST', consent: { data_sharing: true } },
    ]),
  },
  {
    route: 'GET /api/v1/runs/{runId}',
    method: 'GET',
    path: () => `/api/v1/runs/${runId}`,
    scope: 'user/Patient.r',
    wrongScope: 'system/AuditEvent.r',
  },
  {
    route: 'GET /api/v1/runs/{runId}',
    method: 'GET',
    path: () => `/api/v1/runs/${runId}`,
    scope: 'system/Patient.c',
    wrongScope: 'user/Consent.u',
  },
  {
    route: 'GET /api/v1/runs/{runId}/rejections',
    method: 'GET',
    path: () => `/api/v1/runs/${runId}/rejections`,
    scope: 'system/Patient.c',
    wrongScope: 'system/AuditEvent.r',
  },
  {
    route: 'GET /api/v1/runs',
    method: 'GET',
    path: () => '/api/v1/runs?limit=1',
    scope: 'user/Patient.r',
    wrongScope: 'system/AuditEvent.r',
  },
  {
    route: 'GET /api/v1/runs/{runId}/history',
    method: 'GET',
    path: () => `/api/v1/runs/${runId}/history`,
    scope: 'system/Patient.c',
    wrongScope: 'user/Consent.u',
  },
  {
    route: 'GET /api/v1/patients/{id}',
    method: 'GET',
    path: () => `/api/v1/patients/${patientId}`,
    scope: 'user/Patient.r',
    wrongScope: 'system/Patient.c',
  },
  {
    route: 'GET /api/v1/patients?mrn=',
    method: 'GET',
    path: () => '/api/v1/patients?mrn=MRN-AUTH-1',
    scope: 'user/Patient.r',
    wrongScope: 'system/Patient.r',
  },
];

describe('the auth matrix: every endpoint × {no token, bad signature, expired, missing scope, right scope}', () => {
  beforeAll(async () => {
    const writer = await token(['system/Patient.c']);
    const accepted = await ingest(
      [
        {
          resourceType: 'Patient',
          mrn: 'MRN-AUTH-1',
          name: 'Auth Matrix',
          consent: { data_sharing: true },
        },
      ],
      writer,
    );
    runId = accepted.json.runId;
    await waitForRun(runId, writer);
    const search = await call('GET', '/api/v1/patients?mrn=MRN-AUTH-1', {
      token: await token(['user/Patient.r']),
    });
    patientId = search.json.data[0].id;
  });

  const cases = endpoints.flatMap((endpoint) => [
    { endpoint, credential: 'no token', status: 401 },
    { endpoint, credential: 'bad signature', status: 401 },
    { endpoint, credential: 'expired', status: 401 },
    { endpoint, credential: 'missing scope', status: 403 },
    { endpoint, credential: 'right scope', status: endpoint.method === 'POST' ? 202 : 200 },
  ]);

  it.each(cases)(
    '$endpoint.route ($endpoint.scope) with $credential → $status',
    async ({ endpoint, credential, status }) => {
      // Prepare
      const bearer =
        credential === 'no token'
          ? undefined
          : credential === 'bad signature'
            ? await token([endpoint.scope], 'forged')
            : credential === 'expired'
              ? await token([endpoint.scope], 'expired')
              : credential === 'missing scope'
                ? await token([endpoint.wrongScope])
                : await token([endpoint.scope]);

      // Act
      const response = await call(endpoint.method, endpoint.path(), {
        ...(bearer === undefined ? {} : { token: bearer }),
        ...(endpoint.body === undefined
          ? {}
          : { body: endpoint.body, headers: { 'content-type': 'application/json' } }),
      });

      // Assess
      expect(response.status).toBe(status);
      if (status === 401) {
        expect(response.headers.get('www-authenticate')).toMatch(/^Bearer /);
        expect(response.json.type).toBe('urn:problem:healthcare-etl:unauthorized');
      }
      if (status === 403) {
        expect(response.headers.get('www-authenticate')).toContain('insufficient_scope');
        expect(response.json.detail).toContain(endpoint.scope);
        expect(response.json.detail).not.toContain(endpoint.wrongScope);
      }
      if (bearer !== undefined) expect(response.text).not.toContain(bearer);
    },
  );

  it.each(['/health', '/openapi.json', '/docs', '/console'])('%s needs no token', async (path) => {
    // Act
    const response = await call('GET', path);

    // Assess
    expect(response.status).toBe(200);
  });
});
