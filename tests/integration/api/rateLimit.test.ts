import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ApiHandler } from '../../../lib/api/apiHandler.ts';
import {
  failedAuthenticationBucket,
  takeRequest,
  tenantBucket,
} from '../../../lib/api/rateLimit.ts';
import { TooManyRequestsError } from '../../../lib/errors.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { useDeployedEnvironment } from '../../helpers/deployedEnvironment.ts';
import {
  bearerToken,
  gatewayGetEvent,
  lambdaContextOf,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
} from '../../helpers/gatewayEvents.ts';
import { thrownBy } from '../../helpers/thrown.ts';

const SETTINGS = { perMinute: 60, burst: 5 } as const;

/** A bucket of its own per test: the database is shared by the file. */
const bearer = () => tenantBucket(`tenant-${randomBytes(12).toString('base64url')}`);

describe('takeRequest: a bucket in PostgreSQL', () => {
  const database = useTestDatabase();

  /** Takes `n` requests one after the other; returns what each threw, undefined when it passed. */
  async function take(
    token: string,
    n: number,
    settings: { perMinute: number; burst: number } = SETTINGS,
  ): Promise<unknown[]> {
    const outcomes: unknown[] = [];
    for (let i = 0; i < n; i += 1) {
      outcomes.push(await thrownBy(() => takeRequest(database.pool, token, settings)));
    }
    return outcomes;
  }

  it('lets a burst of 5 through and refuses the sixth with 429 and Retry-After 1', async () => {
    // Prepare
    const token = bearer();

    // Act
    const outcomes = await take(token, 6);

    // Assess
    expect(outcomes.slice(0, 5)).toEqual(Array(5).fill(undefined));
    const refused = outcomes[5];
    expect(refused).toBeInstanceOf(TooManyRequestsError);
    expect((refused as TooManyRequestsError).statusCode).toBe(429);
    // One token a second at 60 a minute: the next one is less than a second away.
    expect((refused as TooManyRequestsError).retryAfterSeconds).toBe(1);
  });

  it('tells a slower rate to wait longer: 6 a minute, Retry-After 10', async () => {
    // Prepare
    const token = bearer();

    // Act
    const outcomes = await take(token, 3, { perMinute: 6, burst: 2 });

    // Assess
    expect(outcomes.slice(0, 2)).toEqual([undefined, undefined]);
    expect((outcomes[2] as TooManyRequestsError).retryAfterSeconds).toBe(10);
  });

  it('keeps buckets apart: another bucket is not limited by the first', async () => {
    // Prepare
    const [first, second] = [bearer(), bearer()];
    await take(first, 5);

    // Act
    const firstAgain = await take(first, 1);
    const others = await take(second, 5);

    // Assess
    expect(firstAgain[0]).toBeInstanceOf(TooManyRequestsError);
    expect(others).toEqual(Array(5).fill(undefined));
    expect((await take(second, 1))[0]).toBeInstanceOf(TooManyRequestsError);
  });

  it('refills one token a second: after 1.1 s one more passes, and only one', async () => {
    // Prepare
    const token = bearer();
    const burst = await take(token, 6);

    // Act
    await sleep(1_100);
    const afterRefill = await take(token, 2);

    // Assess
    expect(burst[5]).toBeInstanceOf(TooManyRequestsError);
    expect(afterRefill[0]).toBeUndefined();
    expect(afterRefill[1]).toBeInstanceOf(TooManyRequestsError);
  });

  it('lets exactly the burst through when ten requests race', async () => {
    // Prepare
    const token = bearer();

    // Act
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () => thrownBy(() => takeRequest(database.pool, token, SETTINGS))),
    );

    // Assess
    expect(outcomes.filter((outcome) => outcome === undefined)).toHaveLength(5);
    expect(outcomes.filter((outcome) => outcome instanceof TooManyRequestsError)).toHaveLength(5);
  });

  it('stores buckets under digests: neither the subject nor the address is kept', async () => {
    // Prepare
    const secret = `clinic-${randomBytes(12).toString('base64url')}`;
    const address = '203.0.113.77';

    // Act
    await takeRequest(database.pool, tenantBucket(secret), SETTINGS);
    await takeRequest(database.pool, failedAuthenticationBucket(address), SETTINGS);

    // Assess
    const { rows } = await database.pool.query<{ bucket: string }>(
      'SELECT bucket FROM rate_limits',
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const { bucket } of rows) {
      expect(bucket).toMatch(/^(tenant|auth-failures):[A-Za-z0-9_-]{43}$/);
      expect(bucket).not.toContain(address);
      expect(bucket).not.toContain(secret);
      expect(bucket).not.toContain(secret.slice(0, 16));
      expect(bucket).not.toContain(secret.slice(-16));
    }
  });
});

describe('the API handlers: a bucket per tenant, and one per address for failed authentication', () => {
  const database = useTestDatabase();
  const JWT_SECRET = randomBytes(32);
  const BURST = 5;
  // One request every ten seconds refills: a test's requests all fall in one window.
  useDeployedEnvironment(database, {
    AUTH_JWT_SECRET: JWT_SECRET.toString('base64'),
    AUTH_ISSUER: TOKEN_ISSUER,
    AUTH_AUDIENCE: TOKEN_AUDIENCE,
    AUTH_JWKS_URL: undefined,
    RATE_LIMIT_PER_MINUTE: '6',
    RATE_LIMIT_BURST: String(BURST),
  });
  let listRuns: ApiHandler;

  beforeAll(async () => {
    ({ handler: listRuns } = await import('../../../functions/api/listRuns.ts'));
  });

  /** GET /api/v1/runs from `sourceIp`, with `bearer` as the token. */
  async function listFrom(sourceIp: string, bearer: string): Promise<number | undefined> {
    const event = gatewayGetEvent('/api/v1/runs', { host: 'api.example.test', bearer });
    event.requestContext.http.sourceIp = sourceIp;
    const response: APIGatewayProxyStructuredResultV2 = await listRuns(
      event,
      lambdaContextOf('listRuns'),
    );
    return response.statusCode;
  }

  const tokenOf = (subject: string) => bearerToken(JWT_SECRET, subject, ['user/Patient.r']);

  it('makes two tokens of one subject share one bucket; another subject has its own', async () => {
    // Prepare
    const subject = `clinic-${randomUUID()}`;
    const [first, second, other] = await Promise.all([
      tokenOf(subject),
      tokenOf(subject),
      tokenOf(`clinic-${randomUUID()}`),
    ]);
    expect(first).not.toBe(second);

    // Act
    const statuses: Array<number | undefined> = [];
    for (let n = 0; n < BURST; n += 1) {
      statuses.push(await listFrom('198.51.100.1', n % 2 === 0 ? first : second));
    }
    const [afterBurst, otherSubject] = [
      await listFrom('198.51.100.1', second),
      await listFrom('198.51.100.1', other),
    ];

    // Assess
    expect(statuses).toStrictEqual(Array(BURST).fill(200));
    expect(afterBurst).toBe(429);
    expect(otherSubject).toBe(200);
  });

  it('charges the requests its scopes refuse (403) to the tenant: past the burst they are 429s too', async () => {
    // Prepare: a verified client without the scope GET /api/v1/runs needs.
    const subject = `prober-${randomUUID()}`;
    const prober = await bearerToken(JWT_SECRET, subject, ['user/Consent.u']);
    const reader = await bearerToken(JWT_SECRET, subject, ['user/Patient.r']);

    // Act
    const statuses: Array<number | undefined> = [];
    for (let n = 0; n <= BURST; n += 1) statuses.push(await listFrom('198.51.100.7', prober));
    const sameTenant = await listFrom('198.51.100.7', reader);

    // Assess: the 403s drew from the tenant's bucket, so its next token waits as well.
    expect(statuses).toStrictEqual([...Array(BURST).fill(403), 429]);
    expect(sameTenant).toBe(429);
  });

  it('answers 300 invalid tokens from one address with 401s for the burst, then 429s; another address and valid tokens are unaffected', async () => {
    // Prepare
    const forged = await bearerToken(randomBytes(32), 'guesser', ['user/Patient.r']);
    const valid = await tokenOf(`clinic-${randomUUID()}`);

    // Act
    const statuses: Array<number | undefined> = [];
    for (let n = 0; n < 300; n += 1) statuses.push(await listFrom('192.0.2.10', forged));
    const fromElsewhere = await listFrom('192.0.2.11', forged);
    const validFromThere = await listFrom('192.0.2.10', valid);

    // Assess
    expect(statuses.slice(0, BURST)).toStrictEqual(Array(BURST).fill(401));
    expect(statuses.slice(BURST)).toStrictEqual(Array(300 - BURST).fill(429));
    expect(fromElsewhere).toBe(401);
    expect(validFromThere).toBe(200);
  });

  it('answers the 429 of failed authentication with Retry-After and a problem, never the token', async () => {
    // Prepare
    const forged = await bearerToken(randomBytes(32), 'guesser', ['user/Patient.r']);
    for (let n = 0; n < BURST; n += 1) await listFrom('192.0.2.20', forged);
    const event = gatewayGetEvent('/api/v1/runs', { host: 'api.example.test', bearer: forged });
    event.requestContext.http.sourceIp = '192.0.2.20';

    // Act
    const response = await listRuns(event, lambdaContextOf('listRuns'));

    // Assess
    expect(response.statusCode).toBe(429);
    expect(Number(response.headers?.['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(response.headers?.['content-type']).toBe('application/problem+json');
    expect(response.body).not.toContain(forged);
  });

  it('leaves requests without a token out of the address’s bucket: each is a 401, nothing stored', async () => {
    // Prepare
    const event = () => {
      const unauthenticated = gatewayGetEvent('/api/v1/runs', { host: 'api.example.test' });
      unauthenticated.requestContext.http.sourceIp = '192.0.2.30';
      return unauthenticated;
    };

    // Act
    const statuses: Array<number | undefined> = [];
    for (let n = 0; n < BURST * 3; n += 1) {
      statuses.push((await listRuns(event(), lambdaContextOf('listRuns'))).statusCode);
    }

    // Assess
    expect(statuses).toStrictEqual(Array(BURST * 3).fill(401));
    const { rowCount } = await database.pool.query('SELECT 1 FROM rate_limits WHERE bucket = $1', [
      failedAuthenticationBucket('192.0.2.30'),
    ]);
    expect(rowCount).toBe(0);
  });
});
