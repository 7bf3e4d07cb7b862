import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { freePort, randomPassword, startEmbeddedPostgres } from '../../local/embeddedPostgres.ts';
import { startStack } from './stack.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    apiUrl: string;
    devToken: string;
    stepFunctionsEndpoint: string;
    stateMachineArn: string;
    /** The database the stack writes to, for assertions that nothing was stored. */
    stackDatabaseUrl: string;
    /** The stack's signing secret (.data/jwt-secret), for minting tokens of other scopes. */
    jwtSecretFile: string;
    stackLogFile: string;
    maxRecordsPerBatch: number;
    rateLimitBurst: number;
  }
}

export const E2E_MAX_RECORDS = 50;
/**
 * Per client (the token's subject), and per address for refused tokens: most tests share the
 * subject of api.ts's token(), hence the large burst; the fuzz takes a subject per payload, the
 * rate-limit test exhausts one of its own.
 */
export const E2E_RATE_LIMIT = { perMinute: 600, burst: 400 } as const;

/**
 * The e2e suite's stack, started once: `local/start.ts` exactly as `npm start` runs it, on
 * free ports, against a throwaway PostgreSQL of the suite's own, with a temporary data dir.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'etl-e2e-'));
  const database = await startEmbeddedPostgres({
    dataDir: join(tmpdir(), `etl-e2e-pg-${process.pid}-${Date.now().toString(36)}`),
    persistent: false,
    password: randomPassword(),
    durable: false,
  });
  const admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  await admin.query('CREATE DATABASE etl_e2e');
  await admin.end();
  const url = new URL(database.url);
  url.pathname = '/etl_e2e';

  const stack = await startStack({
    dataDir,
    env: {
      DATABASE_URL: url.toString(),
      PORT: String(await freePort()),
      MAX_RECORDS_PER_BATCH: String(E2E_MAX_RECORDS),
      RATE_LIMIT_PER_MINUTE: String(E2E_RATE_LIMIT.perMinute),
      RATE_LIMIT_BURST: String(E2E_RATE_LIMIT.burst),
      LOG_LEVEL: 'INFO',
    },
  }).catch(async (error: unknown) => {
    await database.stop();
    throw error;
  });

  project.provide('apiUrl', stack.apiUrl);
  project.provide('devToken', stack.devToken);
  project.provide('stepFunctionsEndpoint', stack.stepFunctionsEndpoint);
  project.provide('stateMachineArn', stack.stateMachineArn);
  project.provide('stackDatabaseUrl', url.toString());
  project.provide('jwtSecretFile', join(dataDir, 'jwt-secret'));
  project.provide('stackLogFile', stack.logFile);
  project.provide('maxRecordsPerBatch', E2E_MAX_RECORDS);
  project.provide('rateLimitBurst', E2E_RATE_LIMIT.burst);

  return async () => {
    await stack.stop();
    await database.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
}
