/**
 * The read routes' handlers, as API Gateway invokes them: a patient/ token's launch context at
 * the door and through every read, and no answer that tells "refused" from "not on file".
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ApiHandler } from '../../../lib/api/apiHandler.ts';
import { mintToken } from '../../../lib/auth/tokens.ts';
import { LocalKeyService } from '../../../lib/crypto/localKeyService.ts';
import { findPatientsByMrn } from '../../../lib/patients/patientAccess.ts';
import { resourceIdOf } from '../../../lib/pipeline/resourceIdentity.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { useDeployedEnvironment } from '../../helpers/deployedEnvironment.ts';
import { consentFor, ndjson, patientResource } from '../../helpers/fhir.ts';
import {
  gatewayGetEvent,
  lambdaContextOf,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
} from '../../helpers/gatewayEvents.ts';
import { useTestPipeline } from '../../helpers/pipeline.ts';

type Json = Record<string, unknown>;
type Response = APIGatewayProxyStructuredResultV2;

const HOST = 'api.example.test';
const JWT_SECRET = randomBytes(32);
const MASTER_KEY = randomBytes(32);
const SENDER = 'system:launch-http';
const PATIENT_APP = ['patient/Patient.r', 'patient/*.rs'];
const lambdaContext = lambdaContextOf('reads');

interface AuditRecord {
  action: string;
  resource_id: string | null;
  outcome: string;
  details: Json;
}

function tokenFor(subject: string, scopes: readonly string[], patient?: string): Promise<string> {
  return mintToken(JWT_SECRET, {
    subject,
    scopes,
    issuer: TOKEN_ISSUER,
    audience: TOKEN_AUDIENCE,
    ttlSeconds: 600,
    ...(patient === undefined ? {} : { patient }),
  });
}

/** What a client can tell two answers apart by: status, headers and body, the request's own id aside. */
function observable(response: Response) {
  const { 'x-correlation-id': correlationId, ...headers } = response.headers ?? {};
  expect(correlationId).toEqual(expect.any(String));
  const body = (response.body ?? '').replaceAll(String(correlationId), '<request id>');
  return { status: response.statusCode, headers, body: JSON.parse(body) as Json };
}

describe('the read routes with a SMART launch context, and without oracles', () => {
  const database = useTestDatabase();
  useDeployedEnvironment(database, {
    AUTH_JWT_SECRET: JWT_SECRET.toString('base64'),
    AUTH_ISSUER: TOKEN_ISSUER,
    AUTH_AUDIENCE: TOKEN_AUDIENCE,
    AUTH_JWKS_URL: undefined,
    // The pipeline below and the handlers' runtime wrap keys under the same master key.
    LOCAL_MASTER_KEY: MASTER_KEY.toString('base64'),
    RATE_LIMIT_PER_MINUTE: '6000',
    RATE_LIMIT_BURST: '1000',
  });
  const pipeline = useTestPipeline(database, { keyService: new LocalKeyService(MASTER_KEY) });
  const handlers: Record<string, ApiHandler> = {};
  let patientA = '';
  let patientB = '';
  let refused = '';
  let observationB = '';

  async function call(
    name: string,
    path: string,
    bearer: string,
    options: { pathParameters?: Record<string, string>; query?: Record<string, string> } = {},
  ): Promise<Response> {
    const event = gatewayGetEvent(path, { host: HOST, bearer, ...options });
    return (await (handlers[name] as ApiHandler)(event, lambdaContext)) as Response;
  }

  async function auditOf(actor: string): Promise<AuditRecord[]> {
    const { rows } = await database.pool.query<AuditRecord>(
      'SELECT action, resource_id, outcome, details FROM audit_log WHERE actor = $1 ORDER BY seq',
      [actor],
    );
    return rows;
  }

  beforeAll(async () => {
    for (const [name, module] of [
      ['getPatient', '../../../functions/api/getPatient.ts'],
      ['searchPatients', '../../../functions/api/searchPatients.ts'],
      ['listAudit', '../../../functions/api/listAudit.ts'],
      ['fhirReadPatient', '../../../functions/fhir/readPatient.ts'],
      ['fhirRead', '../../../functions/fhir/read.ts'],
      ['fhirSearch', '../../../functions/fhir/search.ts'],
      ['fhirEverything', '../../../functions/fhir/everything.ts'],
    ] as const) {
      handlers[name] = ((await import(module)) as { handler: ApiHandler }).handler;
    }
    const { execution } = await pipeline.ingestBody(
      ndjson([
        patientResource('pat-a', 'MRN-HTTP-A', 'Alpha'),
        consentFor('Patient/pat-a'),
        patientResource('pat-b', 'MRN-HTTP-B', 'Beta'),
        consentFor('Patient/pat-b'),
        patientResource('pat-r', 'MRN-HTTP-R', 'Refusal'),
        consentFor('Patient/pat-r'),
        {
          resourceType: 'Observation',
          id: 'obs-b',
          status: 'final',
          code: { text: 'weight' },
          subject: { reference: 'Patient/pat-b' },
        },
      ]),
      'application/fhir+ndjson',
      SENDER,
    );
    expect(execution.status).toBe('SUCCEEDED');
    const idOf = async (mrn: string) =>
      (await findPatientsByMrn(pipeline.deps, 'system:test', mrn))[0]?.id ?? '';
    patientA = await idOf('MRN-HTTP-A');
    patientB = await idOf('MRN-HTTP-B');
    refused = await idOf('MRN-HTTP-R');
    await database.pool.query('UPDATE consents SET data_sharing = false WHERE patient_id = $1', [
      refused,
    ]);
    const indexKey = await pipeline.deps.keyring.blindIndexKeyObject(database.pool);
    observationB = resourceIdOf(indexKey, SENDER, 'Observation/obs-b');
  });

  it('answers GET /api/v1/patients?mrn= alike for an MRN not on file and one whose patient refused, auditing the refusal', async () => {
    // Prepare
    const bearer = await tokenFor('user:mrn-oracle', ['user/Patient.r']);

    // Act
    const refusedAnswer = await call('searchPatients', '/api/v1/patients', bearer, {
      query: { mrn: 'MRN-HTTP-R' },
    });
    const absentAnswer = await call('searchPatients', '/api/v1/patients', bearer, {
      query: { mrn: 'MRN-HTTP-NOBODY' },
    });

    // Assess
    expect(observable(refusedAnswer)).toEqual(observable(absentAnswer));
    expect(observable(refusedAnswer)).toMatchObject({ status: 200, body: { data: [] } });
    expect(await auditOf('user:mrn-oracle')).toMatchObject([
      { action: 'DENY', resource_id: refused, outcome: 'denied', details: { reason: 'consent' } },
      { action: 'READ', resource_id: null, outcome: 'success', details: { matches: 0 } },
    ]);
  });

  it('answers a FHIR Patient search by identifier alike whether the MRN is not on file or refused', async () => {
    // Prepare
    const bearer = await tokenFor('user:fhir-identifier', ['user/Patient.rs']);
    const search = (mrn: string) =>
      call('fhirSearch', '/fhir/r4/Patient', bearer, {
        pathParameters: { type: 'Patient' },
        query: { identifier: mrn },
      });

    // Act
    const refusedAnswer = await search('MRN-HTTP-R');
    const absentAnswer = await search('MRN-HTTP-NOBODY');

    // Assess
    expect(observable(refusedAnswer)).toEqual(observable(absentAnswer));
    expect(refusedAnswer.statusCode).toBe(404);
  });

  it('refuses a patient/ token without a launch context at the door: 401 invalid_token, nothing read', async () => {
    // Prepare
    const bearer = await tokenFor('app:no-context', PATIENT_APP);

    // Act
    const response = await call('getPatient', `/api/v1/patients/${patientA}`, bearer, {
      pathParameters: { id: patientA },
    });

    // Assess
    expect(response.statusCode).toBe(401);
    expect(response.headers?.['www-authenticate']).toContain('invalid_token');
    expect(await auditOf('app:no-context')).toEqual([]);
  });

  it('reads its own patient on every read route, and answers any other as not on file', async () => {
    // Prepare
    const bearer = await tokenFor('app:launch-http', PATIENT_APP, patientA);
    const routes = (id: string) =>
      [
        ['getPatient', `/api/v1/patients/${id}`, { pathParameters: { id } }],
        ['fhirReadPatient', `/fhir/r4/Patient/${id}`, { pathParameters: { id } }],
        [
          'fhirEverything',
          `/fhir/r4/Patient/${id}/$everything`,
          { pathParameters: { id }, query: {} },
        ],
        [
          'fhirSearch',
          '/fhir/r4/Observation',
          { pathParameters: { type: 'Observation' }, query: { patient: id } },
        ],
      ] as const;

    // Act
    const own = await Promise.all(
      routes(patientA).map(([name, path, options]) => call(name, path, bearer, options)),
    );
    const other = await Promise.all(
      routes(patientB).map(([name, path, options]) => call(name, path, bearer, options)),
    );
    const ownRefusedToken = await tokenFor('app:launch-http-refused', PATIENT_APP, refused);
    const ownRefused = await Promise.all(
      routes(refused).map(([name, path, options]) => call(name, path, ownRefusedToken, options)),
    );
    const absent = await Promise.all(
      routes(randomUUID()).map(([name, path, options]) => call(name, path, bearer, options)),
    );
    const otherData = await call('fhirRead', `/fhir/r4/Observation/${observationB}`, bearer, {
      pathParameters: { type: 'Observation', id: observationB },
    });
    const absentData = await call('fhirRead', `/fhir/r4/Observation/${randomUUID()}`, bearer, {
      pathParameters: { type: 'Observation', id: randomUUID() },
    });

    // Assess
    expect(own.map((response) => response.statusCode)).toEqual([200, 200, 200, 200]);
    expect(other.map(observable)).toEqual(absent.map(observable));
    expect(ownRefused.map(observable)).toEqual(absent.map(observable));
    expect(absent.map((response) => response.statusCode)).toEqual([404, 404, 404, 404]);
    expect(observable(otherData)).toEqual(observable(absentData));
    expect(otherData.statusCode).toBe(404);
    const denials = (await auditOf('app:launch-http')).filter((row) => row.action === 'DENY');
    // Any id but its patient's is refused before a look-up: B's and the absent one's alike.
    expect(denials).toHaveLength(9);
    expect(denials.filter((row) => row.resource_id === patientB)).toHaveLength(4);
    expect(denials.filter((row) => row.resource_id === observationB)).toHaveLength(1);
    for (const row of denials) {
      expect(row.details).toMatchObject({ reason: 'launch-context', launchPatient: patientA });
    }
  });

  it('keeps the audit routes closed to a patient/ token (403)', async () => {
    // Prepare
    const bearer = await tokenFor('app:launch-audit', ['patient/*.*'], patientA);

    // Act
    const response = await call('listAudit', '/api/v1/audit', bearer, {
      query: { patient: patientA },
    });

    // Assess
    expect(response.statusCode).toBe(403);
  });
});
