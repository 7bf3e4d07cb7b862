import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { TestDatabase } from './database.ts';

/**
 * Registers the hooks that set `process.env` as a deployed function reads it, for the
 * enclosing describe: the test database, a local master key file of its own (no KMS), silent
 * logs, then `variables` (undefined removes one). After it, the runtime's pool is closed, the
 * key file removed and `process.env` restored. Import the function modules in a later hook.
 */
export function useDeployedEnvironment(
  database: TestDatabase,
  variables: Readonly<Record<string, string | undefined>> = {},
): void {
  const saved = { ...process.env };
  let keyDir: string | undefined;

  beforeAll(() => {
    keyDir = mkdtempSync(join(tmpdir(), 'etl-keys-'));
    const environment: Record<string, string | undefined> = {
      DATABASE_URL: database.url,
      LOCAL_MASTER_KEY_FILE: join(keyDir, 'master.key'),
      LOCAL_MASTER_KEY: undefined,
      KMS_KEY_ID: undefined,
      LOG_LEVEL: 'SILENT',
      ...variables,
    };
    for (const [name, value] of Object.entries(environment)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  afterAll(async () => {
    const { pipelineDependencies } = await import('../../lib/runtime.ts');
    await pipelineDependencies().pool.end();
    process.env = saved;
    if (keyDir !== undefined) rmSync(keyDir, { recursive: true, force: true });
  });
}
