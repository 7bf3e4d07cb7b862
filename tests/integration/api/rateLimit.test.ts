import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { takeRequest } from '../../../lib/api/rateLimit.ts';
import { TooManyRequestsError } from '../../../lib/errors.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { thrownBy } from '../../helpers/thrown.ts';

const SETTINGS = { perMinute: 60, burst: 5 } as const;

/** A bearer of its own per test: buckets are per token and the database is shared by the file. */
const bearer = () => `Bearer eyJ${randomBytes(24).toString('base64url')}`;

describe('takeRequest: the per-token bucket in PostgreSQL', () => {
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

  it('keeps a bucket per token: another bearer is not limited by the first', async () => {
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

  it('stores the bucket under a digest: neither the token nor a part of it is kept', async () => {
    // Prepare
    const token = bearer();
    const secret = token.slice('Bearer '.length);

    // Act
    await take(token, 1);

    // Assess
    const { rows } = await database.pool.query<{ bucket: string }>(
      'SELECT bucket FROM rate_limits',
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const { bucket } of rows) {
      expect(bucket).toMatch(/^token:[A-Za-z0-9_-]{43}$/);
      expect(bucket).not.toContain(secret);
      expect(bucket).not.toContain(secret.slice(0, 16));
      expect(bucket).not.toContain(secret.slice(-16));
    }
  });
});
