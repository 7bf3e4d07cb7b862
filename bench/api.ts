/**
 * `npm run bench:api`: the HTTP API under load, with autocannon. POST /api/v1/ingest of
 * 100-record flat batches at 16 connections for 20 s, and GET /health beside it in the same
 * run: requests per second, p50 and p99 latency, and ingest latency over health latency (the
 * health route costs the stack's front and serverless-offline's own overhead, nothing else).
 *
 *   npm run bench:api -- [--url URL --token TOKEN] [--duration S] [--connections N] [--json FILE]
 *
 * Without --url it starts a throwaway embedded stack (`npm start` in a temporary directory,
 * DATABASE_URL or an embedded PostgreSQL, rate limits raised so they do not cap the run).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { freePort } from '../local/embeddedPostgres.ts';
import { startStack } from '../tests/e2e/stack.ts';
import { syntheticPatient } from './synthetic.ts';

const RECORDS_PER_REQUEST = 100;
const HEALTH_CONNECTIONS = 1;

interface Target {
  readonly url: string;
  readonly token: string;
  stop(): Promise<void>;
}

async function throwawayStack(): Promise<Target> {
  const dataDir = mkdtempSync(join(tmpdir(), 'healthcare-etl-bench-api-'));
  const stack = await startStack({
    dataDir,
    env: {
      PORT: String(await freePort()),
      RATE_LIMIT_PER_MINUTE: '1000000',
      RATE_LIMIT_BURST: '1000000',
      LOG_LEVEL: 'WARN',
    },
  });
  return {
    url: stack.apiUrl,
    token: stack.devToken,
    stop: async () => {
      await stack.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

interface Figures {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  readonly statuses: Record<string, number>;
  readonly errors: number;
}

function figuresOf(result: autocannon.Result): Figures {
  const statuses: Record<string, number> = {};
  for (const [status, { count }] of Object.entries(result.statusCodeStats ?? {})) {
    if (Number(count) > 0) statuses[status] = Number(count);
  }
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    statuses,
    errors: result.errors + result.timeouts,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      duration: { type: 'string', default: '20' },
      connections: { type: 'string', default: '16' },
      json: { type: 'string' },
    },
    strict: true,
  });
  const duration = Number(values.duration);
  const connections = Number(values.connections);
  if (!Number.isSafeInteger(duration) || duration < 1) throw new Error('--duration: seconds');
  if (!Number.isSafeInteger(connections) || connections < 1) throw new Error('--connections');
  if ((values.url === undefined) !== (values.token === undefined)) {
    throw new Error('--url and --token go together');
  }

  const target: Target =
    values.url !== undefined && values.token !== undefined
      ? { url: values.url, token: values.token, stop: async () => undefined }
      : await throwawayStack();
  try {
    // Every request a batch of patients never sent before, so each one is a new run.
    let batch = 0;
    const ingest = autocannon({
      url: target.url,
      connections,
      duration,
      requests: [
        {
          method: 'POST',
          path: '/api/v1/ingest',
          headers: {
            authorization: `Bearer ${target.token}`,
            'content-type': 'application/json',
          },
          setupRequest: (request) => {
            const first = batch++ * RECORDS_PER_REQUEST;
            const records = Array.from(
              { length: RECORDS_PER_REQUEST },
              (_, i) => syntheticPatient(first + i).record,
            );
            return { ...request, body: JSON.stringify({ records }) };
          },
        },
      ],
    });
    const health = autocannon({
      url: `${target.url}/health`,
      connections: HEALTH_CONNECTIONS,
      duration,
    });
    const [ingested, checked] = await Promise.all([ingest, health]);
    const results = { ingest: figuresOf(ingested), health: figuresOf(checked) };
    const ratio = results.ingest.p50Ms / results.health.p50Ms;

    console.log(
      `${availableParallelism()} cores, Node ${process.version}; ${duration} s; ingest: ${connections} connections, ${RECORDS_PER_REQUEST} records a request; health: ${HEALTH_CONNECTIONS} connection`,
    );
    console.log('route                 req/s    p50 ms    p99 ms  requests  statuses');
    for (const [route, figures] of [
      ['POST /api/v1/ingest', results.ingest],
      ['GET /health', results.health],
    ] as const) {
      console.log(
        `${route.padEnd(20)} ${figures.requestsPerSecond.toFixed(1).padStart(6)} ${figures.p50Ms.toFixed(1).padStart(9)} ${figures.p99Ms.toFixed(1).padStart(9)} ${String(figures.requests).padStart(9)}  ${JSON.stringify(figures.statuses)}${figures.errors > 0 ? ` errors ${figures.errors}` : ''}`,
      );
    }
    console.log(
      `records accepted/s: ${(((results.ingest.statuses['202'] ?? 0) * RECORDS_PER_REQUEST) / duration).toFixed(0)}`,
    );
    console.log(`ingest p50 / health p50: ${ratio.toFixed(2)}×`);
    if (values.json !== undefined) {
      writeFileSync(
        values.json,
        `${JSON.stringify({ duration, connections, ...results, ratio }, null, 2)}\n`,
      );
      console.log(`wrote ${values.json}`);
    }
    const failed = Object.keys(results.ingest.statuses).some((status) => status !== '202');
    if (failed || results.ingest.errors > 0) process.exitCode = 1;
  } finally {
    await target.stop();
  }
}

await main();
