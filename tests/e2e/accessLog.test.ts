import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, inject, it } from 'vitest';
import { type ApiResponse, call, token } from './api.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The stack log's `request served` lines, once every id of `ids` has one (or the time is up). */
async function servedLines(ids: readonly string[]): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const lines = readFileSync(inject('stackLogFile'), 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{') && line.includes('"request served"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const logged = new Set(lines.map((line) => line['correlationId']));
    if (ids.every((id) => logged.has(id)) || Date.now() > deadline) return lines;
    await sleep(200);
  }
}

describe('correlation ids and the access log of the embedded stack', () => {
  it('gives every response an id of its own, found in one access line naming the route, not the path', async () => {
    // Prepare
    const reader = await token(['user/Patient.r']);
    const clientId = randomUUID().toUpperCase();
    const mrn = `MRN-ACCESS-${randomUUID().slice(0, 8)}`;

    // Act
    const responses: ApiResponse[] = [];
    for (let n = 0; n < 5; n += 1) {
      responses.push(await call('GET', '/api/v1/runs?limit=1', { token: reader }));
      responses.push(await call('GET', `/api/v1/patients?mrn=${mrn}`, { token: reader }));
      responses.push(await call('GET', '/health'));
    }
    const withClientId = await call('GET', '/health', {
      headers: { 'x-correlation-id': clientId },
    });
    const withSsn = await call('GET', '/api/v1/runs?limit=1', {
      token: reader,
      headers: { 'x-correlation-id': '987-65-4321' },
    });
    const ids = [...responses, withSsn].map((response) => response.headers.get('x-correlation-id'));
    const lines = await servedLines([...(ids as string[]), clientId.toLowerCase()]);

    // Assess
    for (const id of ids) expect(id).toMatch(UUID);
    expect(new Set(ids).size).toBe(ids.length);
    expect(withClientId.headers.get('x-correlation-id')).toBe(clientId.toLowerCase());
    const byId = new Map(lines.map((line) => [line['correlationId'], line]));
    for (const [index, response] of responses.entries()) {
      const line = byId.get(response.headers.get('x-correlation-id'));
      expect(line).toMatchObject({
        status: response.status,
        route: ['GET /api/v1/runs', 'GET /api/v1/patients', 'GET /health'][index % 3],
        durationMs: expect.any(Number),
      });
    }
    expect(byId.get(clientId.toLowerCase())).toMatchObject({ route: 'GET /health' });
    const log = readFileSync(inject('stackLogFile'), 'utf8');
    expect(log).not.toContain('987-65-4321');
    expect(log).not.toContain(mrn);
  });

  it('logs the documents the embedded gateway answers from its cache under their own ids too', async () => {
    // Act
    const answers = [await call('GET', '/openapi.json'), await call('GET', '/openapi.json')];
    const ids = answers.map((response) => response.headers.get('x-correlation-id') ?? '');
    const lines = await servedLines(ids);

    // Assess
    expect(answers.map((response) => response.status)).toStrictEqual([200, 200]);
    expect(new Set(ids).size).toBe(2);
    const routes = ids.map((id) => lines.find((line) => line['correlationId'] === id)?.['route']);
    // The first fills the cache unless an earlier test did.
    expect(routes[0]).toMatch(/^GET \/openapi\.json( \(cached\))?$/);
    expect(routes[1]).toBe('GET /openapi.json (cached)');
  });
});
