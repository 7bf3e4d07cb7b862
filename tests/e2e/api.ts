import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { inject } from 'vitest';
import { mintToken } from '../../lib/auth/tokens.ts';

export interface ApiResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The body parsed as JSON, or undefined when it is not JSON; tests assert its shape. */
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked by assertions, not types
  readonly json: any;
}

export async function call(
  method: string,
  path: string,
  options: { token?: string; body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<ApiResponse> {
  const response = await fetch(`${inject('apiUrl')}${path}`, {
    method,
    headers: {
      ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
      ...options.headers,
    },
    ...(options.body === undefined ? {} : { body: options.body }),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** A token the stack accepts, for `scopes`; `expired` and `forged` make the ones it must refuse. */
export async function token(
  scopes: readonly string[],
  variant: 'valid' | 'expired' | 'forged' = 'valid',
): Promise<string> {
  const secret = variant === 'forged' ? randomBytes(32) : readFileSync(inject('jwtSecretFile'));
  return mintToken(secret, {
    subject: 'e2e-tester',
    scopes,
    issuer: 'healthcare-etl-local',
    audience: 'healthcare-etl-api',
    ttlSeconds: 300,
    ...(variant === 'expired' ? { now: new Date(Date.now() - 3_600_000) } : {}),
  });
}

export function ingestBody(records: readonly unknown[]): string {
  return JSON.stringify({ records });
}

export async function ingest(records: readonly unknown[], bearer: string): Promise<ApiResponse> {
  return call('POST', '/api/v1/ingest', {
    token: bearer,
    body: ingestBody(records),
    headers: { 'content-type': 'application/json' },
  });
}

/** Polls the run until it ends (the state machine runs asynchronously, as in AWS). */
// biome-ignore lint/suspicious/noExplicitAny: the run's JSON, checked by the caller's assertions
export async function waitForRun(runId: string, bearer: string, timeoutMs = 60_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await call('GET', `/api/v1/runs/${runId}`, { token: bearer });
    if (response.status !== 200) throw new Error(`run ${runId}: HTTP ${response.status}`);
    if (response.json.status === 'succeeded' || response.json.status === 'failed')
      return response.json;
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${response.json.status}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * The application_name of the tests' own connections to the stack's database: the database
 * fault test, which terminates the stack's backends while other test files run, spares them.
 */
export const OBSERVER_APPLICATION = 'e2e-observer';

/** A connection of the tests' own to the stack's database, spared by the fault test. */
export function observerClient(): pg.Client {
  const client = new pg.Client({
    connectionString: inject('stackDatabaseUrl'),
    application_name: OBSERVER_APPLICATION,
  });
  // A connection lost anyway rejects its query; it must not be an uncaught error.
  client.on('error', () => undefined);
  return client;
}

/** Runs one query against the stack's database. */
export async function query<R extends pg.QueryResultRow>(
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  const client = observerClient();
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

export async function counts(): Promise<{ runs: number; patients: number; payloads: number }> {
  const [row] = await query<{ runs: number; patients: number; payloads: number }>(
    `SELECT (SELECT count(*)::int FROM ingest_runs) AS runs, (SELECT count(*)::int FROM patients) AS patients,
            (SELECT count(*)::int FROM stage_payloads) AS payloads`,
  );
  if (row === undefined) throw new Error('no counts');
  return row;
}
