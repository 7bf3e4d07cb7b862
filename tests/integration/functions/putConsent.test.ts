import { randomBytes, randomUUID } from 'node:crypto';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ApiHandler } from '../../../lib/api/apiHandler.ts';
import type { AuthenticatedEvent } from '../../../lib/auth/middleware.ts';
import { mintToken } from '../../../lib/auth/tokens.ts';
import { insertDataKey } from '../../../lib/db/repositories/dataKeys.ts';
import { upsertPatients } from '../../../lib/db/repositories/patients.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { useDeployedEnvironment } from '../../helpers/deployedEnvironment.ts';
import {
  bearerToken,
  gatewayGetEvent,
  lambdaContextOf,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
} from '../../helpers/gatewayEvents.ts';
import { opaquePatientRow } from '../../helpers/rows.ts';

type Json = Record<string, unknown>;

const HOST = 'api.example.test';
const JWT_SECRET = randomBytes(32);
const lambdaContext = lambdaContextOf('putConsent');

/** PUT /api/v1/patients/{id}/consent as API Gateway hands it to the function. */
function putEvent(patientId: string, bearer: string, body: Json): AuthenticatedEvent {
  const path = `/api/v1/patients/${patientId}/consent`;
  const get = gatewayGetEvent(path, { host: HOST, bearer, pathParameters: { id: patientId } });
  return {
    ...get,
    routeKey: 'PUT /api/v1/patients/{id}/consent',
    headers: { ...get.headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    requestContext: {
      ...get.requestContext,
      http: { ...get.requestContext.http, method: 'PUT' },
      routeKey: 'PUT /api/v1/patients/{id}/consent',
    },
  } as AuthenticatedEvent;
}

function bodyOf(response: APIGatewayProxyStructuredResultV2): Json {
  return JSON.parse(response.body ?? '') as Json;
}

describe('PUT /api/v1/patients/{id}/consent: the handler against PostgreSQL', () => {
  const database = useTestDatabase();
  useDeployedEnvironment(database, {
    AUTH_JWT_SECRET: JWT_SECRET.toString('base64'),
    AUTH_ISSUER: TOKEN_ISSUER,
    AUTH_AUDIENCE: TOKEN_AUDIENCE,
    AUTH_JWKS_URL: undefined,
    RATE_LIMIT_PER_MINUTE: '600',
    RATE_LIMIT_BURST: '100',
  });
  let putConsent: ApiHandler;
  let patientId: string;

  beforeAll(async () => {
    ({ handler: putConsent } = await import('../../../functions/api/putConsent.ts'));
    const dataKeyId = randomUUID();
    await insertDataKey(database.pool, {
      id: dataKeyId,
      purpose: 'run',
      masterKeyId: 'local',
      encryptedKey: randomBytes(24),
      encryptionContext: { purpose: 'run', runId: 'none' },
    });
    const row = opaquePatientRow(dataKeyId);
    patientId = row.id;
    await upsertPatients(database.pool, null, [row]);
  });

  async function auditOf(actor: string): Promise<Json[]> {
    const { rows } = await database.pool.query<Json>(
      `SELECT action, resource_type, resource_id, outcome, details FROM audit_log
       WHERE actor = $1 ORDER BY seq`,
      [actor],
    );
    return rows;
  }

  it.each([
    ['a user', 'user:privacy-officer', 'user/Consent.u'],
    ['a system', 'system:consent-portal', 'system/Consent.u'],
  ])(
    'records %s token’s change, audited with the token subject and the source',
    async (_, subject, scope) => {
      // Prepare
      const bearer = await bearerToken(JWT_SECRET, subject, [scope]);

      // Act
      const response = await putConsent(
        putEvent(patientId, bearer, { data_sharing: false, source: 'patient-portal' }),
        lambdaContext,
      );

      // Assess
      expect(response.statusCode).toBe(200);
      expect(bodyOf(response)).toMatchObject({
        patientId,
        dataSharing: false,
        source: 'patient-portal',
        recordedBy: subject,
      });
      expect(await auditOf(subject)).toEqual([
        {
          action: expect.stringMatching(/^(CREATE|UPDATE)$/),
          resource_type: 'Consent',
          resource_id: patientId,
          outcome: 'success',
          details: expect.objectContaining({ source: 'patient-portal', dataSharing: false }),
        },
      ]);
    },
  );

  it.each([
    ['patient/Consent.u, launched for that very patient', ['patient/Consent.u'], true],
    ['a read scope', ['user/Consent.r', 'user/Patient.r'], false],
  ])('refuses a token with only %s: 403, nothing changed', async (_, scopes, launched) => {
    // Prepare
    const subject = `user:no-consent-scope-${scopes.length}`;
    const bearer = await mintToken(JWT_SECRET, {
      subject,
      scopes,
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
      ttlSeconds: 600,
      ...(launched ? { patient: patientId } : {}),
    });
    const { rows: before } = await database.pool.query(
      'SELECT * FROM consents WHERE patient_id = $1',
      [patientId],
    );

    // Act
    const response = await putConsent(
      putEvent(patientId, bearer, { data_sharing: true, source: 'patient-app' }),
      lambdaContext,
    );

    // Assess
    expect(response.statusCode).toBe(403);
    const { rows: after } = await database.pool.query(
      'SELECT * FROM consents WHERE patient_id = $1',
      [patientId],
    );
    expect(after).toEqual(before);
    expect(await auditOf(subject)).toEqual([]);
  });

  it('answers a grant dated before the refusal on record with a 409 problem, audited as a DENY', async () => {
    // Prepare
    const subject = 'user:late-paper-form';
    const bearer = await bearerToken(JWT_SECRET, subject, ['user/Consent.u']);
    await putConsent(
      putEvent(patientId, bearer, { data_sharing: false, source: 'patient-portal' }),
      lambdaContext,
    );
    const before = new Date(Date.now() - 86_400_000).toISOString();

    // Act
    const response = await putConsent(
      putEvent(patientId, bearer, {
        data_sharing: true,
        source: 'paper-form',
        recordedAt: before,
      }),
      lambdaContext,
    );

    // Assess
    expect(response.statusCode).toBe(409);
    expect(response.headers?.['content-type']).toMatch(/^application\/problem\+json/);
    expect(bodyOf(response)).toMatchObject({
      status: 409,
      detail: expect.stringMatching(/dated after the refusal/),
    });
    expect((await auditOf(subject)).map((row) => [row['action'], row['details']])).toEqual([
      ['UPDATE', expect.objectContaining({ source: 'patient-portal', dataSharing: false })],
      [
        'DENY',
        {
          reason: 'consent-revoked',
          source: 'paper-form',
          dataSharing: true,
          recordedAt: before,
        },
      ],
    ]);
  });
});
