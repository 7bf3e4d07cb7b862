import { setTimeout as delay } from 'node:timers/promises';
import { isJsonObject } from '../../lib/json.ts';

/** The API answered with an error: `detail` is the problem's own explanation, `code` its type. */
export class ApiProblemError extends Error {
  override readonly name = 'ApiProblemError';
  readonly status: number;
  /** The problem type's last segment (urn:problem:healthcare-etl:<code>), or http-<status>. */
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** No answer from the API after every retry: connection refused, reset, or timed out. */
export class ApiUnreachableError extends Error {
  override readonly name = 'ApiUnreachableError';
  readonly code = 'api-unreachable';
}

/** A run that did not end within the time allowed; it may still end later. */
export class RunTimeoutError extends Error {
  override readonly name = 'RunTimeoutError';
  readonly code = 'run-timeout';
}

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed';

/** A run's counts as GET /api/v1/runs/{runId} has them, e.g. `created`, `Condition.created`. */
export type RunCounts = Readonly<Record<string, number>>;

export interface RunState {
  readonly runId: string;
  readonly status: RunStatus;
  readonly errorCode: string | null;
  /** Its numeric counts so far; none in the answer to POST /api/v1/ingest. */
  readonly counts: RunCounts;
}

export interface RunRejection {
  readonly recordIndex: number;
  readonly resourceType: string | null;
  readonly reason: string;
}

export interface BatchSubmission {
  readonly body: Buffer;
  readonly contentType: string;
  readonly idempotencyKey: string;
}

export interface RetryPolicy {
  /** Retries of a 502/503/504 or a failed connection, with doubling delays from baseDelayMs. */
  readonly maxRetries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Retries of a 429, each after the Retry-After the server sent (at most maxRetryAfterSeconds). */
  readonly maxRateLimitRetries: number;
  readonly maxRetryAfterSeconds: number;
}

export interface ApiClientOptions {
  readonly baseUrl: string;
  /** The bearer token for each request: a minted token is renewed before it expires. */
  readonly bearer: () => Promise<string>;
  readonly retry?: Partial<RetryPolicy>;
  readonly requestTimeoutMs?: number;
  /** How the client waits between retries and polls; tests pass one that does not. */
  readonly sleep?: (milliseconds: number) => Promise<void>;
  readonly now?: () => number;
}

export interface RunWait {
  readonly pollIntervalMs: number;
  readonly timeoutMs: number;
  /** Called after every poll, e.g. to redraw the progress bar. */
  readonly onPoll?: (run: RunState) => void;
}

export interface ApiClient {
  submitBatch(submission: BatchSubmission): Promise<RunState>;
  getRun(runId: string): Promise<RunState>;
  listRejections(runId: string): Promise<RunRejection[]>;
  waitForRun(runId: string, wait: RunWait): Promise<RunState>;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxRetries: 6,
  baseDelayMs: 500,
  maxDelayMs: 10_000,
  maxRateLimitRetries: 20,
  maxRetryAfterSeconds: 60,
};

const RETRIED_STATUSES = new Set([502, 503, 504]);
const RUN_STATUSES: readonly string[] = ['queued', 'running', 'succeeded', 'failed'];
const PROBLEM_TYPE = /^urn:problem:[^:]+:([\w-]+)$/;

/** Seconds to wait from a Retry-After header: delta-seconds or an HTTP date. */
export function retryAfterSeconds(header: string | null, nowMs: number): number | undefined {
  if (header === null) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - nowMs) / 1000));
}

function unexpected(what: string): ApiProblemError {
  return new ApiProblemError(
    502,
    'unexpected-response',
    `the API's answer to ${what} is not what it documents`,
  );
}

/** The problem's detail (or title) and type code; a body that is not problem+json says nothing. */
async function problemOf(response: Response): Promise<ApiProblemError> {
  let problem: unknown;
  try {
    problem = await response.json();
  } catch {
    problem = undefined;
  }
  const fields = isJsonObject(problem) ? problem : {};
  const type = typeof fields['type'] === 'string' ? PROBLEM_TYPE.exec(fields['type']) : null;
  const code = type?.[1] ?? `http-${response.status}`;
  const detail = typeof fields['detail'] === 'string' ? fields['detail'] : undefined;
  const title = typeof fields['title'] === 'string' ? fields['title'] : undefined;
  const text = detail ?? title ?? (response.statusText || 'no explanation given');
  return new ApiProblemError(response.status, code, `HTTP ${response.status}: ${text}`);
}

/** The numbers among a run's counts; what is not a number (a tally by reason) is not a count. */
function countsOf(counts: unknown): RunCounts {
  if (!isJsonObject(counts)) return {};
  return Object.fromEntries(
    Object.entries(counts).filter(
      (entry): entry is [string, number] =>
        typeof entry[1] === 'number' && Number.isFinite(entry[1]),
    ),
  );
}

function runStateOf(body: unknown, what: string): RunState {
  if (!isJsonObject(body)) throw unexpected(what);
  const { runId, status, errorCode, counts } = body;
  if (typeof runId !== 'string' || typeof status !== 'string' || !RUN_STATUSES.includes(status)) {
    throw unexpected(what);
  }
  return {
    runId,
    status: status as RunStatus,
    errorCode: typeof errorCode === 'string' ? errorCode : null,
    counts: countsOf(counts),
  };
}

function rejectionsOf(body: unknown, what: string): RunRejection[] {
  const data = isJsonObject(body) ? body['data'] : undefined;
  if (!Array.isArray(data)) throw unexpected(what);
  return data.map((item: unknown) => {
    if (!isJsonObject(item) || !Number.isSafeInteger(item['recordIndex'])) throw unexpected(what);
    const { recordIndex, resourceType, reason } = item;
    if (typeof reason !== 'string') throw unexpected(what);
    return {
      recordIndex: recordIndex as number,
      resourceType: typeof resourceType === 'string' ? resourceType : null,
      reason,
    };
  });
}

/**
 * The API as the CLI uses it, over global fetch: a 429 is retried after its Retry-After, a
 * 502/503/504 or a failed connection with bounded backoff; other errors are ApiProblemError.
 */
export function createApiClient(options: ApiClientOptions): ApiClient {
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  const sleep = options.sleep ?? ((milliseconds: number) => delay(milliseconds));
  const now = options.now ?? Date.now;
  const requestTimeoutMs = options.requestTimeoutMs ?? 60_000;

  async function request(method: string, path: string, init: RequestInit = {}): Promise<unknown> {
    const what = `${method} ${path}`;
    let failures = 0;
    let rateLimited = 0;
    for (;;) {
      const bearer = await options.bearer();
      let response: Response;
      try {
        response = await fetch(`${options.baseUrl}${path}`, {
          ...init,
          method,
          headers: {
            ...(init.headers as Record<string, string> | undefined),
            authorization: `Bearer ${bearer}`,
            accept: 'application/json, application/problem+json',
          },
          signal: AbortSignal.timeout(requestTimeoutMs),
        });
      } catch (error) {
        failures += 1;
        if (failures > policy.maxRetries) {
          throw new ApiUnreachableError(`no answer from ${options.baseUrl} to ${what}`, {
            cause: error,
          });
        }
        await sleep(Math.min(policy.baseDelayMs * 2 ** (failures - 1), policy.maxDelayMs));
        continue;
      }
      if (response.ok) {
        try {
          return await response.json();
        } catch {
          throw unexpected(what);
        }
      }
      if (response.status === 429 && rateLimited < policy.maxRateLimitRetries) {
        rateLimited += 1;
        const seconds = retryAfterSeconds(response.headers.get('retry-after'), now()) ?? 1;
        await response.body?.cancel();
        await sleep(Math.min(seconds, policy.maxRetryAfterSeconds) * 1000);
        continue;
      }
      if (RETRIED_STATUSES.has(response.status) && failures < policy.maxRetries) {
        failures += 1;
        await response.body?.cancel();
        await sleep(Math.min(policy.baseDelayMs * 2 ** (failures - 1), policy.maxDelayMs));
        continue;
      }
      throw await problemOf(response);
    }
  }

  const client: ApiClient = {
    async submitBatch(submission) {
      // The Idempotency-Key makes a retried POST answer with the run the first one started.
      const body = await request('POST', '/api/v1/ingest', {
        body: submission.body,
        headers: {
          'content-type': submission.contentType,
          'idempotency-key': submission.idempotencyKey,
        },
      });
      return runStateOf(body, 'POST /api/v1/ingest');
    },
    async getRun(runId) {
      const path = `/api/v1/runs/${encodeURIComponent(runId)}`;
      return runStateOf(await request('GET', path), `GET ${path}`);
    },
    async listRejections(runId) {
      const path = `/api/v1/runs/${encodeURIComponent(runId)}/rejections`;
      return rejectionsOf(await request('GET', path), `GET ${path}`);
    },
    async waitForRun(runId, wait) {
      const deadline = now() + wait.timeoutMs;
      for (;;) {
        const run = await client.getRun(runId);
        wait.onPoll?.(run);
        if (run.status === 'succeeded' || run.status === 'failed') return run;
        if (now() >= deadline) {
          throw new RunTimeoutError(
            `run ${runId} is still ${run.status} after ${Math.round(wait.timeoutMs / 1000)} s; it may yet finish: run the same command again to pick it up`,
          );
        }
        await sleep(wait.pollIntervalMs);
      }
    },
  };
  return client;
}
