import { afterEach, describe, expect, it } from 'vitest';
import {
  type ApiClient,
  ApiProblemError,
  ApiUnreachableError,
  createApiClient,
  RunTimeoutError,
  retryAfterSeconds,
} from '../../../cli/ingest/apiClient.ts';
import {
  type Answer,
  problem,
  type ScriptedServer,
  startScriptedServer,
} from './scriptedServer.ts';

const RUN_ID = '3f1c2a9e-8b7d-4c6e-9a5f-0d1e2f3a4b5c';
const ACCEPTED: Answer = {
  status: 202,
  body: { runId: RUN_ID, status: 'queued', links: { self: `/api/v1/runs/${RUN_ID}` } },
};
const SUBMISSION = {
  body: Buffer.from('{"resourceType":"Patient"}\n'),
  contentType: 'application/fhir+ndjson',
  idempotencyKey: 'etl-ingest:abc:10:0:0',
};

async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('createApiClient against a real HTTP server', () => {
  let server: ScriptedServer | undefined;
  let waits: number[];

  async function clientFor(answers: Answer[] | ((index: number) => Answer)): Promise<ApiClient> {
    const answer =
      typeof answers === 'function' ? answers : (index: number) => answers[index] ?? ACCEPTED;
    let index = 0;
    server = await startScriptedServer(() => answer(index++));
    waits = [];
    let tokens = 0;
    return createApiClient({
      baseUrl: server.url,
      bearer: () => Promise.resolve(`token-${++tokens}`),
      sleep: (milliseconds) => {
        waits.push(milliseconds);
        return Promise.resolve();
      },
    });
  }

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('posts the batch with its media type, Idempotency-Key and a bearer token, and returns the run', async () => {
    // Prepare
    const client = await clientFor([ACCEPTED]);

    // Act
    const run = await client.submitBatch(SUBMISSION);

    // Assess
    expect(run).toStrictEqual({ runId: RUN_ID, status: 'queued', errorCode: null, counts: {} });
    const [request] = server!.requests;
    expect(request).toMatchObject({
      method: 'POST',
      path: '/api/v1/ingest',
      body: SUBMISSION.body.toString(),
    });
    expect(request?.headers['content-type']).toBe('application/fhir+ndjson');
    expect(request?.headers['idempotency-key']).toBe(SUBMISSION.idempotencyKey);
    expect(request?.headers.authorization).toBe('Bearer token-1');
  });

  it('asks for a bearer token for every request, so a minted one can be renewed', async () => {
    // Prepare
    const client = await clientFor([ACCEPTED, ACCEPTED]);

    // Act
    await client.submitBatch(SUBMISSION);
    await client.submitBatch(SUBMISSION);

    // Assess
    expect(server!.requests.map((request) => request.headers.authorization)).toStrictEqual([
      'Bearer token-1',
      'Bearer token-2',
    ]);
  });

  it.each<[string, string, number]>([
    ['delta seconds', '3', 3000],
    ['zero', '0', 0],
    ['more than the cap', '3600', 60_000],
  ])('retries a 429 after its Retry-After (%s)', async (_case, retryAfter, waited) => {
    // Prepare
    const client = await clientFor([
      {
        ...problem(429, 'rate-limited', 'too many requests'),
        headers: { 'retry-after': retryAfter },
      },
      ACCEPTED,
    ]);

    // Act
    const run = await client.submitBatch(SUBMISSION);

    // Assess
    expect(run.runId).toBe(RUN_ID);
    expect(waits).toStrictEqual([waited]);
    expect(server!.requests.map((request) => request.headers['idempotency-key'])).toStrictEqual([
      SUBMISSION.idempotencyKey,
      SUBMISSION.idempotencyKey,
    ]);
  });

  it.each([502, 503, 504])('retries a %i with doubling delays', async (status) => {
    // Prepare
    const unavailable = problem(status, 'service-unavailable', 'try later');
    const client = await clientFor([unavailable, unavailable, unavailable, ACCEPTED]);

    // Act
    const run = await client.submitBatch(SUBMISSION);

    // Assess
    expect(run.runId).toBe(RUN_ID);
    expect(waits).toStrictEqual([500, 1000, 2000]);
  });

  it('gives up on a 503 that lasts, with the problem', async () => {
    // Prepare
    const client = await clientFor(() =>
      problem(503, 'service-unavailable', 'the workflow service is down'),
    );

    // Act
    const error = await rejectionOf(client.submitBatch(SUBMISSION));

    // Assess
    expect(error).toBeInstanceOf(ApiProblemError);
    expect(error).toMatchObject({ status: 503, code: 'service-unavailable' });
    expect(waits).toStrictEqual([500, 1000, 2000, 4000, 8000, 10_000]);
  });

  it('gives up on an API that does not answer, after bounded retries', async () => {
    // Prepare
    const client = await clientFor([]);
    await server!.close();

    // Act
    const error = await rejectionOf(client.submitBatch(SUBMISSION));

    // Assess
    expect(error).toBeInstanceOf(ApiUnreachableError);
    expect(error.message).toMatch(
      /^no answer from http:\/\/127\.0\.0\.1:\d+ to POST \/api\/v1\/ingest$/,
    );
    expect(waits).toStrictEqual([500, 1000, 2000, 4000, 8000, 10_000]);
  });

  it.each<[string, Answer, number, string, string]>([
    [
      'a 413 problem',
      problem(413, 'payload-too-large', 'a batch holds at most 50 records'),
      413,
      'payload-too-large',
      'HTTP 413: a batch holds at most 50 records',
    ],
    [
      'a 422 problem',
      problem(422, 'idempotency-key-reused', 'this Idempotency-Key was used with a different body'),
      422,
      'idempotency-key-reused',
      'HTTP 422: this Idempotency-Key was used with a different body',
    ],
    [
      'a 500 without a problem body',
      { status: 500, body: '<html>oops</html>' },
      500,
      'http-500',
      'HTTP 500: Internal Server Error',
    ],
  ])('does not retry %s and reports its detail', async (_case, answer, status, code, message) => {
    // Prepare
    const client = await clientFor([answer, ACCEPTED]);

    // Act
    const error = await rejectionOf(client.submitBatch(SUBMISSION));

    // Assess
    expect(error).toBeInstanceOf(ApiProblemError);
    expect(error).toMatchObject({ status, code, message });
    expect(server!.requests).toHaveLength(1);
  });

  it('polls a run until it ends, reporting every poll', async () => {
    // Prepare
    const run = (status: string, errorCode: string | null = null): Answer => ({
      status: 200,
      body: { runId: RUN_ID, status, counts: {}, errorCode },
    });
    const client = await clientFor([run('queued'), run('running'), run('failed', 'load-failed')]);
    const polled: string[] = [];

    // Act
    const ended = await client.waitForRun(RUN_ID, {
      pollIntervalMs: 250,
      timeoutMs: 60_000,
      onPoll: (state) => polled.push(state.status),
    });

    // Assess
    expect(ended).toStrictEqual({
      runId: RUN_ID,
      status: 'failed',
      errorCode: 'load-failed',
      counts: {},
    });
    expect(polled).toStrictEqual(['queued', 'running', 'failed']);
    expect(waits).toStrictEqual([250, 250]);
    expect(server!.requests.map((request) => `${request.method} ${request.path}`)).toStrictEqual(
      Array.from({ length: 3 }, () => `GET /api/v1/runs/${RUN_ID}`),
    );
  });

  it("reads a run's counts: its numbers by key, not its tally by reason", async () => {
    // Prepare
    const client = await clientFor([
      {
        status: 200,
        body: {
          runId: RUN_ID,
          status: 'succeeded',
          counts: {
            received: 5,
            created: 2,
            'Condition.created': 3,
            rejectedByReason: { consent: 1 },
            note: 'x',
          },
          errorCode: null,
        },
      },
    ]);

    // Act
    const run = await client.getRun(RUN_ID);

    // Assess
    expect(run.counts).toStrictEqual({ received: 5, created: 2, 'Condition.created': 3 });
  });

  it('stops waiting for a run at the timeout, saying it may still finish', async () => {
    // Prepare
    let clock = 0;
    server = await startScriptedServer(() => ({
      status: 200,
      body: { runId: RUN_ID, status: 'running', counts: {}, errorCode: null },
    }));
    const client = createApiClient({
      baseUrl: server.url,
      bearer: () => Promise.resolve('token'),
      now: () => clock,
      sleep: (milliseconds) => {
        clock += milliseconds;
        return Promise.resolve();
      },
    });

    // Act
    const error = await rejectionOf(
      client.waitForRun(RUN_ID, { pollIntervalMs: 500, timeoutMs: 2000 }),
    );

    // Assess
    expect(error).toBeInstanceOf(RunTimeoutError);
    expect(error.message).toMatch(/still running after 2 s; it may yet finish/);
    expect(server.requests).toHaveLength(5);
  });

  it("lists a run's rejections", async () => {
    // Prepare
    const client = await clientFor([
      {
        status: 200,
        body: {
          runId: RUN_ID,
          data: [
            {
              recordIndex: 0,
              resourceType: 'Patient',
              reason: 'consent',
              details: {},
              stage: 'consentCheck',
            },
            {
              recordIndex: 2,
              resourceType: null,
              reason: 'schema',
              details: { problems: [] },
              stage: 'validate',
            },
          ],
        },
      },
    ]);

    // Act
    const rejections = await client.listRejections(RUN_ID);

    // Assess
    expect(rejections).toStrictEqual([
      { recordIndex: 0, resourceType: 'Patient', reason: 'consent' },
      { recordIndex: 2, resourceType: null, reason: 'schema' },
    ]);
    expect(server!.requests[0]?.path).toBe(`/api/v1/runs/${RUN_ID}/rejections`);
  });

  it.each<[string, (client: ApiClient) => Promise<unknown>, Answer]>([
    [
      'a run without a status',
      (client) => client.getRun(RUN_ID),
      { status: 200, body: { runId: RUN_ID } },
    ],
    [
      'rejections without data',
      (client) => client.listRejections(RUN_ID),
      { status: 200, body: { runId: RUN_ID } },
    ],
    [
      'a body that is not JSON',
      (client) => client.submitBatch(SUBMISSION),
      { status: 202, body: 'accepted' },
    ],
  ])('refuses %s as an unexpected response', async (_case, call, answer) => {
    // Prepare
    const client = await clientFor([answer]);

    // Act
    const error = await rejectionOf(call(client));

    // Assess
    expect(error).toBeInstanceOf(ApiProblemError);
    expect(error).toMatchObject({ code: 'unexpected-response' });
  });
});

describe('retryAfterSeconds', () => {
  it.each<[string | null, number | undefined]>([
    ['5', 5],
    [' 12 ', 12],
    ['Thu, 01 Jan 1970 00:00:10 GMT', 10],
    ['Thu, 01 Jan 1970 00:00:00 GMT', 0],
    ['soon', undefined],
    [null, undefined],
  ])('reads %j as %j seconds', (header, seconds) => {
    // Act
    const value = retryAfterSeconds(header, 0);

    // Assess
    expect(value).toBe(seconds);
  });
});
