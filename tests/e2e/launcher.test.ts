import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/embeddedPostgres.ts';
import { processesMentioning, startStack } from './stack.ts';

describe('npm start (local/start.ts) on a fresh data directory', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'etl-launcher-'));

  afterAll(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts its own PostgreSQL, serves the API, and leaves no process behind after SIGTERM', async () => {
    // Prepare
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { PORT: String(port) };
    // As on a fresh machine: no database, no keys given; the launcher makes its own.
    for (const name of [
      'DATABASE_URL',
      'KMS_KEY_ID',
      'LOCAL_MASTER_KEY',
      'LOCAL_MASTER_KEY_FILE',
      'AUTH_JWT_SECRET',
      'AUTH_JWT_SECRET_FILE',
    ]) {
      env[name] = '';
    }

    // Act
    const stack = await startStack({ dataDir, env });
    const health = await fetch(`${stack.apiUrl}/health`);
    const running = {
      postgres: processesMentioning(join(dataDir, 'postgres')).length,
      offline: processesMentioning(`--httpPort ${port}`).length,
    };
    const exitCode = await stack.stop();

    // Assess
    expect(stack.apiUrl).toBe(`http://127.0.0.1:${port}`);
    expect(health.status).toBe(200);
    expect(running.postgres).toBeGreaterThan(0);
    expect(running.offline).toBe(1);
    expect(exitCode).toBe(0);
    expect(processesMentioning(dataDir)).toEqual([]);
    expect(processesMentioning(`--httpPort ${port}`)).toEqual([]);
    // PostgreSQL shut down cleanly: it removes its pid file only then.
    expect(existsSync(join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
    for (const secret of ['master.key', 'jwt-secret', 'postgres.password']) {
      expect(existsSync(join(dataDir, secret)), secret).toBe(true);
    }
  });
});
