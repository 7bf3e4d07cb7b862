import { randomBytes, randomUUID } from 'node:crypto';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ApiHandler } from '../../../lib/api/apiHandler.ts';
import { buildOpenApiDocument } from '../../../lib/api/openapi.ts';
import type { AuthenticatedEvent } from '../../../lib/auth/middleware.ts';
import { insertDataKey } from '../../../lib/db/repositories/dataKeys.ts';
import { insertIngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import { insertRejections } from '../../../lib/db/repositories/rejections.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { useDeployedEnvironment } from '../../helpers/deployedEnvironment.ts';
import {
  bearerToken,
  gatewayGetEvent,
  lambdaContextOf,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
} from '../../helpers/gatewayEvents.ts';

type Json = Record<string, unknown>;

const addFormats = addFormatsModule.default;
const HOST = 'api.example.test';
const JWT_SECRET = randomBytes(32);
const DOCUMENT_ID = 'https://healthcare-etl.example/openapi.json';

const lambdaContext = lambdaContextOf('listRuns');

function token(subject: string, scopes: readonly string[]): Promise<string> {
  return bearerToken(JWT_SECRET, subject, scopes);
}

function getEvent(
  path: string,
  options: {
    readonly bearer?: string;
    readonly pathParameters?: Record<string, string>;
    readonly query?: Record<string, string>;
  },
): AuthenticatedEvent {
  return gatewayGetEvent(path, { host: HOST, ...options });
}

function bodyOf(response: APIGatewayProxyStructuredResultV2): Json {
  return JSON.parse(response.body ?? '') as Json;
}

/** The OpenAPI document's validator of one component schema. */
function validatorFor(name: string) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  const document = buildOpenApiDocument({ maxRecordsPerBatch: 10 });
  const components = document['components'] as Json;
  ajv.addSchema({ $id: DOCUMENT_ID, components: { schemas: components['schemas'] } });
  return ajv.compile({ $ref: `${DOCUMENT_ID}#/components/schemas/${name}` });
}

describe('GET /api/v1/runs and GET /api/v1/runs/{runId}: the handlers against PostgreSQL', () => {
  const database = useTestDatabase();
  useDeployedEnvironment(database, {
    AUTH_JWT_SECRET: JWT_SECRET.toString('base64'),
    AUTH_ISSUER: TOKEN_ISSUER,
    AUTH_AUDIENCE: TOKEN_AUDIENCE,
    AUTH_JWKS_URL: undefined,
    RATE_LIMIT_PER_MINUTE: '600',
    RATE_LIMIT_BURST: '100',
  });
  let listRuns: ApiHandler;
  let getRun: ApiHandler;
  let reader: string;
  /** Newest first. */
  const runIds: string[] = [];

  /** Lists runs as `bearer`'s holder, or without a token when it is null. */
  function list(query: Record<string, string>, bearer: string | null = reader) {
    return listRuns(
      getEvent('/api/v1/runs', { query, ...(bearer === null ? {} : { bearer }) }),
      lambdaContext,
    );
  }

  beforeAll(async () => {
    ({ handler: listRuns } = await import('../../../functions/api/listRuns.ts'));
    ({ handler: getRun } = await import('../../../functions/api/getRun.ts'));
    // The tenant that submitted every seeded run, reading them as a user.
    reader = await token('system:submitter', ['user/Patient.r']);
    const dataKeyId = randomUUID();
    await insertDataKey(database.pool, {
      id: dataKeyId,
      purpose: 'run',
      masterKeyId: 'local',
      encryptedKey: randomBytes(24),
      encryptionContext: { purpose: 'run', runId: 'none' },
    });
    for (const [n, status] of (['failed', 'succeeded', 'running'] as const).entries()) {
      const id = randomUUID();
      await insertIngestRun(database.pool, {
        id,
        format: 'flat',
        source: 'api',
        actor: 'system:submitter',
        dataKeyId,
        counts: { received: 2 },
      });
      await database.pool.query(
        `UPDATE ingest_runs SET status = $2, created_at = $3, stage_timings = $4,
           finished_at = CASE WHEN $2 = 'running' THEN NULL ELSE $3::timestamptz + interval '1 second' END
         WHERE id = $1`,
        [
          id,
          status,
          `2030-01-0${n + 1}T00:00:00Z`,
          status === 'succeeded'
            ? { extract: 1, validate: 1, consentCheck: 1, transform: 1, load: 1 }
            : { extract: 1 },
        ],
      );
      runIds.unshift(id);
    }
    await insertRejections(database.pool, runIds[1]!, 'validate', [
      { recordIndex: 1, resourceType: 'Patient', reason: 'schema', details: {} },
    ]);
  });

  it('answers a page the OpenAPI document describes, and a next link that keeps the filters', async () => {
    // Prepare
    const validate = validatorFor('RunPage');

    // Act
    const first = await list({ status: 'running,succeeded,failed', limit: '2' });
    const next = String((bodyOf(first)['links'] as Json)['next']);
    const second = await list(Object.fromEntries(new URL(next, `https://${HOST}`).searchParams));

    // Assess
    expect(first.statusCode).toBe(200);
    for (const response of [first, second]) {
      expect(validate(bodyOf(response)), JSON.stringify(validate.errors)).toBe(true);
    }
    expect(next).toMatch(/^\/api\/v1\/runs\?status=running%2Csucceeded%2Cfailed&limit=2&cursor=/);
    const ids = [first, second].flatMap((response) =>
      (bodyOf(response)['data'] as Json[]).map((run) => run['runId']),
    );
    expect(ids).toStrictEqual(runIds);
    expect(bodyOf(second)['links']).toStrictEqual({ next: null });
  });

  it('shows each run in the list as GET /api/v1/runs/{runId} shows it', async () => {
    // Act
    const page = bodyOf(await list({}));
    const one = await Promise.all(
      runIds.map((runId) =>
        getRun(
          getEvent(`/api/v1/runs/${runId}`, { bearer: reader, pathParameters: { runId } }),
          lambdaContext,
        ),
      ),
    );

    // Assess
    expect(page['data']).toStrictEqual(one.map(bodyOf));
    expect(
      one.map(bodyOf).map(({ status, currentStage, failedStage, rejectedByReason }) => ({
        status,
        currentStage,
        failedStage,
        rejectedByReason,
      })),
    ).toStrictEqual([
      { status: 'running', currentStage: 'validate', failedStage: null, rejectedByReason: {} },
      {
        status: 'succeeded',
        currentStage: null,
        failedStage: null,
        rejectedByReason: { schema: 1 },
      },
      { status: 'failed', currentStage: null, failedStage: 'validate', rejectedByReason: {} },
    ]);
  });

  it.each([
    ['a cursor that is no cursor', { cursor: 'MRN-001' }, '/cursor'],
    ['a status outside the list', { status: 'paused' }, '/status'],
    ['a limit past the maximum', { limit: '501' }, '/limit'],
  ])('answers %s with a 400 problem+json naming the parameter', async (_, query, path) => {
    // Act
    const response = await list(query);

    // Assess
    expect(response.statusCode).toBe(400);
    expect(response.headers?.['content-type']).toBe('application/problem+json');
    const problem = bodyOf(response);
    expect(problem).toMatchObject({ status: 400 });
    expect((problem['errors'] as Json[]).map((error) => error['path'])).toStrictEqual([path]);
  });

  it.each<[string, number, string | null]>([
    ['no token', 401, null],
    ['a token without a run scope', 403, 'user/Consent.u'],
  ])('answers %s with %i problem+json', async (_, status, scope) => {
    // Prepare
    const bearer = scope === null ? null : await token('user:other', [scope]);

    // Act
    const response = await list({}, bearer);

    // Assess
    expect(response.statusCode).toBe(status);
    expect(response.headers?.['content-type']).toBe('application/problem+json');
  });

  it('shows another tenant none of the runs: an empty list, and a 404 like an unknown run for each', async () => {
    // Prepare
    const other = await token('system:other-clinic', ['system/Patient.c', 'user/Patient.r']);
    const unknown = randomUUID();

    // Act
    const listed = await list({}, other);
    const [read, absent] = await Promise.all(
      [runIds[0]!, unknown].map((runId) =>
        getRun(
          getEvent(`/api/v1/runs/${runId}`, { bearer: other, pathParameters: { runId } }),
          lambdaContext,
        ),
      ),
    );

    // Assess
    expect(bodyOf(listed)).toStrictEqual({ data: [], links: { next: null } });
    expect([read?.statusCode, absent?.statusCode]).toStrictEqual([404, 404]);
    const { correlationId: _readId, ...readProblem } = bodyOf(read!);
    const { correlationId: _absentId, ...absentProblem } = bodyOf(absent!);
    expect(readProblem).toStrictEqual(absentProblem);
    expect(read?.body).not.toContain(runIds[0]);
    expect(JSON.stringify(bodyOf(listed))).not.toContain('system:submitter');
  });

  it('shows the operator (system/*.rs) every run', async () => {
    // Prepare
    const operator = await token('operations', ['system/*.rs']);

    // Act
    const listed = await list({}, operator);

    // Assess
    expect(listed.statusCode).toBe(200);
    expect((bodyOf(listed)['data'] as Json[]).map((run) => run['runId'])).toStrictEqual(runIds);
  });
});
