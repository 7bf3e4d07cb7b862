import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TASK_STATES } from '../../lib/workflow/stageHandlers.ts';
import { freePort } from '../../local/embeddedPostgres.ts';
import { processesMentioning, processTree, startStack, stillRunning } from './stack.ts';

/** As on a fresh machine: no database, no keys given; the launcher makes its own. */
function freshMachineEnv(port: number, stepFunctionsPort?: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PORT: String(port) };
  if (stepFunctionsPort !== undefined) env['STEP_FUNCTIONS_PORT'] = String(stepFunctionsPort);
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
  return env;
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** Runs local/start.ts expecting it to give up: its exit code and its stderr lines. */
async function failedStart(
  dataDir: string,
  env: NodeJS.ProcessEnv,
): Promise<{ exitCode: number | null; stderr: string[] }> {
  const launcher = spawn(process.execPath, ['local/start.ts'], {
    env: {
      ...process.env,
      STEP_FUNCTIONS_PORT: String(await freePort()),
      ...env,
      DATA_DIR: dataDir,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  launcher.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exitCode = await new Promise<number | null>((resolve) =>
    launcher.once('exit', (code) => resolve(code)),
  );
  return { exitCode, stderr: stderr.trim().split('\n') };
}

describe('npm start (local/start.ts) on a fresh data directory', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'etl-launcher-'));

  afterAll(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts its own PostgreSQL, serves the API, and leaves no process behind after SIGTERM', async () => {
    // Prepare
    const port = await freePort();

    // Act
    const stack = await startStack({ dataDir, env: freshMachineEnv(port) });
    const health = await fetch(`${stack.apiUrl}/health`);
    const tree = processTree(stack.child.pid ?? 0);
    const running = {
      postgres: processesMentioning(join(dataDir, 'postgres')).length,
      offline: tree.filter(({ pid }) => commandLine(pid).includes('serverless.js offline')).length,
    };
    const exitCode = await stack.stop();

    // Assess
    expect(stack.apiUrl).toBe(`http://127.0.0.1:${port}`);
    expect(health.status).toBe(200);
    expect(running.postgres).toBeGreaterThan(0);
    expect(running.offline).toBe(1);
    expect(exitCode).toBe(0);
    expect(stillRunning(tree)).toEqual([]);
    expect(processesMentioning(dataDir)).toEqual([]);
    // PostgreSQL shut down cleanly: it removes its pid file only then.
    expect(existsSync(join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
    for (const secret of ['master.key', 'jwt-secret', 'postgres.password']) {
      expect(existsSync(join(dataDir, secret)), secret).toBe(true);
    }
  });

  it.each([
    { killed: 'its whole process group', target: (pid: number) => -pid },
    { killed: 'the launcher alone', target: (pid: number) => pid },
  ])(
    'starts again at once on the same data directory and PORT after SIGKILL of $killed',
    async ({ target }) => {
      // Prepare
      const port = await freePort();
      const env = freshMachineEnv(port);
      const crashed = await startStack({ dataDir, env, ownProcessGroup: true });
      const crashedTree = processTree(crashed.child.pid ?? 0);
      process.kill(target(crashed.child.pid ?? 0), 'SIGKILL');
      await crashed.stop();

      // Act
      const started = performance.now();
      const stack = await startStack({ dataDir, env, ownProcessGroup: true });
      const restartMs = performance.now() - started;
      // serverless-offline, in its own group, would otherwise outlive the kill by about 10 s.
      const leftOver = stillRunning(crashedTree);
      const health = await fetch(`${stack.apiUrl}/health`);
      const tree = processTree(stack.child.pid ?? 0);
      const exitCode = await stack.stop();

      // Assess
      console.info(`restarted after SIGKILL in ${Math.round(restartMs)} ms`);
      expect(stack.apiUrl).toBe(`http://127.0.0.1:${port}`);
      expect(health.status).toBe(200);
      expect(leftOver).toEqual([]);
      expect(exitCode).toBe(0);
      expect(stillRunning([...crashedTree, ...tree])).toEqual([]);
      expect(processesMentioning(dataDir)).toEqual([]);
      expect(existsSync(join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
    },
  );

  it('exits non-zero with one line naming PORT when the port stays busy', async () => {
    // Prepare
    const port = await freePort();
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));

    // Act
    const { exitCode, stderr } = await failedStart(dataDir, freshMachineEnv(port));
    await new Promise<void>((resolve) => holder.close(() => resolve()));

    // Assess
    expect(exitCode).not.toBe(0);
    expect(stderr).toEqual([
      `npm start failed: PORT ${port} is in use by another process; free it or set PORT`,
    ]);
    expect(processesMentioning(dataDir)).toEqual([]);
  });

  it('exits non-zero with one line naming STEP_FUNCTIONS_PORT when that port stays busy', async () => {
    // Prepare
    const stepFunctionsPort = await freePort();
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(stepFunctionsPort, '127.0.0.1', resolve));

    // Act
    const { exitCode, stderr } = await failedStart(
      dataDir,
      freshMachineEnv(await freePort(), stepFunctionsPort),
    );
    await new Promise<void>((resolve) => holder.close(() => resolve()));

    // Assess
    expect(exitCode).not.toBe(0);
    expect(stderr).toEqual([
      `npm start failed: STEP_FUNCTIONS_PORT ${stepFunctionsPort} is in use by another process; free it or set STEP_FUNCTIONS_PORT`,
    ]);
    expect(processesMentioning(dataDir)).toEqual([]);
  });

  it('serves the Step Functions endpoint on STEP_FUNCTIONS_PORT, and prints an AWS CLI command for it', async () => {
    // Prepare
    const stepFunctionsPort = await freePort();

    // Act
    const stack = await startStack({
      dataDir,
      env: freshMachineEnv(await freePort(), stepFunctionsPort),
    });
    const banner = stack.output();
    await stack.stop();

    // Assess
    const endpoint = `http://127.0.0.1:${stepFunctionsPort}`;
    const region = stack.stateMachineArn.split(':')[3];
    expect(stack.stepFunctionsEndpoint).toBe(endpoint);
    expect(banner).toContain(
      `AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws --region ${region} --endpoint-url ${endpoint} stepfunctions list-executions --state-machine-arn ${stack.stateMachineArn}\n`,
    );
  });

  it('refuses to start on a data directory whose launcher is running', async () => {
    // Prepare
    const stack = await startStack({ dataDir, env: freshMachineEnv(await freePort()) });

    // Act
    const second = await failedStart(dataDir, freshMachineEnv(await freePort()));
    const health = await fetch(`${stack.apiUrl}/health`);
    await stack.stop();

    // Assess
    expect(second.exitCode).not.toBe(0);
    expect(second.stderr).toEqual([
      `npm start failed: another npm start (pid ${stack.child.pid}) is running on DATA_DIR ${dataDir}`,
    ]);
    expect(health.status).toBe(200);
  });

  it('invokes every stage function once before the banner, so the first run finds their workers started', async () => {
    // Prepare
    const stack = await startStack({ dataDir, env: freshMachineEnv(await freePort()) });
    const output = stack.output();
    const beforeBanner = output.slice(0, output.indexOf('embedded stack running'));
    const record = {
      resourceType: 'Patient',
      mrn: 'MRN-WARM-1',
      name: 'Jane Doe',
      birthDate: '1990-01-15',
      gender: 'female',
      consent: { data_sharing: true, research: false },
    };

    // Act
    const started = performance.now();
    const accepted = await fetch(`${stack.apiUrl}/api/v1/ingest`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.devToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ records: [record] }),
    });
    const { runId } = (await accepted.json()) as { runId: string };
    let status: string | undefined;
    while (status !== 'succeeded' && status !== 'failed') {
      const run = await fetch(`${stack.apiUrl}/api/v1/runs/${runId}`, {
        headers: { authorization: `Bearer ${stack.devToken}` },
      });
      ({ status } = (await run.json()) as { status: string });
      if (status !== 'succeeded' && status !== 'failed')
        await new Promise((r) => setTimeout(r, 50));
    }
    const firstRunMs = performance.now() - started;
    await stack.stop();

    // Assess
    // Printed, never asserted: no test times anything.
    console.log(`first ingest after npm start, one record: ${(firstRunMs / 1000).toFixed(2)} s`);
    expect(status).toBe('succeeded');
    // serverless-offline prints one line per invocation of a function, after it answered.
    const invoked = (name: string) =>
      beforeBanner.match(new RegExp(`^\\(λ: ${name}\\) RequestId: `, 'gm'))?.length ?? 0;
    const stageFunctions = TASK_STATES.map(
      (state) => `${state[0]?.toLowerCase()}${state.slice(1)}`,
    );
    expect(Object.fromEntries(stageFunctions.map((name) => [name, invoked(name)]))).toEqual(
      Object.fromEntries(stageFunctions.map((name) => [name, 1])),
    );
    expect(beforeBanner).toMatch(/^Stage functions warm \(\d+\.\d s\)\.$/m);
  });
});
