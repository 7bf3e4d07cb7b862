import { describe, expect, it } from 'vitest';
import { ROUTE_SCOPES, ROUTES, type Route, routeKeyOf } from '../../../lib/api/routes.ts';
import { parseScope, satisfiesAny } from '../../../lib/auth/scopes.ts';

const routes = Object.entries<Route>(ROUTES);
const authenticated = routes.flatMap(([name, route]) =>
  route.anyOf === 'public' ? [] : [[name, route.anyOf] as const],
);

describe('ROUTES', () => {
  it('names each route as an operationId is written', () => {
    // Assess
    for (const [name] of routes) expect(name).toMatch(/^[a-z][A-Za-z0-9]*$/);
  });

  it('serves each method and path once', () => {
    // Act
    const keys = routes.map(([, route]) => routeKeyOf(route));

    // Assess
    expect(keys.length).toBeGreaterThanOrEqual(15);
    expect(new Set(keys).size).toBe(keys.length);
    // A FHIR operation is a last segment of its own: `$everything`.
    for (const key of keys) {
      expect(key).toMatch(/^(?:(?:GET|POST|PUT) \/[\w./{}-]*(?:\/\$[a-z][A-Za-z]*)?|\$default)$/);
    }
  });

  it('sends what no route matches to one public, undocumented route: API Gateway’s $default', () => {
    // Act
    const defaults = routes.filter(([, route]) => routeKeyOf(route) === '$default');

    // Assess
    expect(defaults).toHaveLength(1);
    expect(defaults[0]?.[1]).toMatchObject({ method: '*', path: '*', anyOf: 'public' });
    expect(defaults[0]?.[1].operation).toBeUndefined();
  });

  it('gives the routes of one function the same scopes and error format, as its one handler has', () => {
    // Prepare
    const byFunction = Map.groupBy(routes, ([, route]) => route.functionName);

    // Assess
    expect([...byFunction.values()].some((group) => group.length > 1)).toBe(true);
    for (const [functionName, group] of byFunction) {
      const handled = group.map(([, route]) => ({ anyOf: route.anyOf, errors: route.errors }));
      for (const each of handled) expect(each, functionName).toStrictEqual(handled[0]);
    }
  });

  it.each(authenticated)('%s asks for SMART scopes the middleware can check', (_, anyOf) => {
    // Assess
    expect(anyOf.length).toBeGreaterThan(0);
    for (const scope of anyOf) expect(parseScope(scope), scope).toBeDefined();
  });

  it('answers OperationOutcome on the FHIR routes and problem+json on every other', () => {
    // Assess
    for (const [name, route] of routes) {
      const expected = route.path.startsWith('/fhir/') ? 'operation-outcome' : 'problem+json';
      expect(route.errors, name).toBe(expected);
    }
  });

  it('collects in ROUTE_SCOPES, once each, the scopes that open every authenticated route but the patient/ ones', () => {
    // Assess
    const launchContextFree = (scope: string) => !scope.startsWith('patient/');
    expect(new Set(ROUTE_SCOPES).size).toBe(ROUTE_SCOPES.length);
    expect(ROUTE_SCOPES).toEqual(
      expect.arrayContaining(authenticated.flatMap(([, anyOf]) => anyOf.filter(launchContextFree))),
    );
    expect(ROUTE_SCOPES.filter(launchContextFree)).toEqual(ROUTE_SCOPES);
    for (const [name, anyOf] of authenticated) {
      expect(satisfiesAny(ROUTE_SCOPES, anyOf), name).toBe(true);
    }
  });
});
