import { describe, expect, it } from 'vitest';
import { routeOf } from '../../../console/route.ts';

const RUN_ID = '0b8a3c1e-5f2d-4e6a-9b7c-1d2e3f405162';

describe('routeOf', () => {
  it.each([
    ['', { view: 'runs' }],
    ['#/runs', { view: 'runs' }],
    ['#/runs/', { view: 'runs' }],
    ['#/throughput', { view: 'throughput' }],
    ['#/audit', { view: 'audit' }],
    ['#/elsewhere', { view: 'runs' }],
    [`#/runs/${RUN_ID}`, { view: 'run', runId: RUN_ID }],
    [`#/runs/${RUN_ID.toUpperCase()}`, { view: 'run', runId: RUN_ID }],
    [`#/runs/${encodeURIComponent(RUN_ID)}`, { view: 'run', runId: RUN_ID }],
  ])('routes %j to %j', (hash, route) => {
    // Act
    const named = routeOf(hash);

    // Assess
    expect(named).toEqual(route);
  });

  it.each([
    ['a malformed percent-encoding', '#/runs/%E0%A4%A'],
    ['a lone percent sign', '#/runs/%'],
    ['a path that is no id', '#/runs/..%2F..%2Fapi%2Fv1%2Faudit'],
    ['an id with a query', `#/runs/${RUN_ID}%3Fx%3D1`],
    ['a truncated id', `#/runs/${RUN_ID.slice(0, 30)}`],
    ['a name', '#/runs/Jane%20Doe'],
  ])('names no run for %s, without throwing', (_, hash) => {
    // Act
    const named = routeOf(hash);

    // Assess
    expect(named).toEqual({ view: 'no-such-run' });
  });
});
