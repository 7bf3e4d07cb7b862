import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, inject, it } from 'vitest';
import { tokenAs } from './principals.ts';
import { listenerPid, treeRssBytes } from './stack.ts';

const UNAUTHENTICATED = 250;
const AUTHENTICATED = 150;
const REQUEST_TIMEOUT_MS = 60_000;
/** A liveness probe that takes longer than this counts as failed, as a load balancer's would. */
const HEALTH_TIMEOUT_MS = 5_000;
/**
 * Growth of the stack's resident memory during the burst. Measured: about 0.4 GB with the front
 * in place; the same burst straight to serverless-offline grew it by 3 GB within 60 s, and rising.
 */
const MAX_GROWTH_BYTES = 1024 ** 3;

/** The launcher: whoever listens on `port`, or the nearest of its ancestors running local/start.ts. */
function launcherOf(port: number): number {
  let pid = listenerPid(port);
  while (pid !== undefined && pid > 1) {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (cmdline.includes('local/start.ts')) return pid;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  }
  throw new Error(`no launcher listens on port ${port}`);
}

interface Outcome {
  readonly status: number | 'timeout';
  readonly retryAfter: string | null;
  readonly contentType: string | null;
}

async function send(
  url: string,
  headers: Record<string, string> = {},
  timeoutMs = REQUEST_TIMEOUT_MS,
): Promise<Outcome> {
  try {
    const response = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return {
      status: response.status,
      retryAfter: response.headers.get('retry-after'),
      contentType: response.headers.get('content-type'),
    };
  } catch {
    return { status: 'timeout', retryAfter: null, contentType: null };
  }
}

describe('a burst of concurrent requests against the embedded stack', () => {
  it('is answered within bounded memory, with 503 and Retry-After past capacity, while /health answers', async () => {
    // Prepare
    const apiUrl = inject('apiUrl');
    const launcher = launcherOf(Number(new URL(apiUrl).port));
    const token = await tokenAs('burst-client', ['user/Patient.r']);
    await send(`${apiUrl}/health`, {}, HEALTH_TIMEOUT_MS);
    const baseline = treeRssBytes(launcher);
    let peak = baseline;
    let bursting = true;
    const sampling = (async () => {
      while (bursting) {
        peak = Math.max(peak, treeRssBytes(launcher));
        await sleep(250);
      }
    })();
    const health: Array<{ status: number | 'timeout'; ms: number }> = [];
    const polling = (async () => {
      while (bursting) {
        const started = performance.now();
        const { status } = await send(`${apiUrl}/health`, {}, HEALTH_TIMEOUT_MS);
        health.push({ status, ms: Math.round(performance.now() - started) });
        await sleep(200);
      }
    })();

    // Act
    const started = performance.now();
    const outcomes = await Promise.all([
      ...Array.from({ length: UNAUTHENTICATED }, () => send(`${apiUrl}/openapi.json`)),
      ...Array.from({ length: AUTHENTICATED }, () =>
        send(`${apiUrl}/api/v1/runs/${randomUUID()}`, { authorization: `Bearer ${token}` }),
      ),
    ]);
    const burstMs = performance.now() - started;
    bursting = false;
    await Promise.all([sampling, polling]);

    // Assess
    const statuses = Map.groupBy(outcomes, ({ status }) => status);
    const unavailable = statuses.get(503) ?? [];
    console.info(
      `burst of ${outcomes.length}: ${Math.round(burstMs)} ms;`,
      [...statuses].map(([status, list]) => `${status}: ${list.length}`).join(', '),
      `; RSS ${(baseline / 1024 ** 2).toFixed(0)} -> peak ${(peak / 1024 ** 2).toFixed(0)} MiB;`,
      `/health ${health.length} polls:`,
      health.map(({ status, ms }) => `${status} in ${ms} ms`).join(', '),
    );
    expect(
      [...statuses.keys()].filter((status) => ![200, 404, 429, 503].includes(status as number)),
    ).toEqual([]);
    for (const outcome of unavailable) {
      expect(outcome.retryAfter).toMatch(/^\d+$/);
      expect(outcome.contentType).toBe('application/problem+json');
    }
    expect(statuses.get(200)?.length).toBeGreaterThan(0);
    expect(health.length).toBeGreaterThan(0);
    expect(health.filter(({ status }) => status !== 200)).toEqual([]);
    expect(peak - baseline).toBeLessThan(MAX_GROWTH_BYTES);
  }, 150_000);
});
