import { describe, expect, it } from 'vitest';
import { ROUTES, type Route } from '../../lib/api/routes.ts';
import { call } from './api.ts';

const DOCUMENTED_PATHS = Object.values<Route>(ROUTES)
  .filter((route) => route.operation !== undefined)
  .map((route) => route.path);

describe('API documentation', () => {
  it('/openapi.json is an OpenAPI 3.1 document describing every route of the route table', async () => {
    // Act
    const response = await call('GET', '/openapi.json');

    // Assess
    expect(response.status).toBe(200);
    expect(response.json.openapi).toBe('3.1.0');
    expect(Object.keys(response.json.paths)).toEqual(expect.arrayContaining(DOCUMENTED_PATHS));
    expect(DOCUMENTED_PATHS).toEqual(
      expect.arrayContaining(['/api/v1/ingest', '/api/v1/runs/{runId}', '/api/v1/patients']),
    );
    expect(response.json.components.schemas.PatientRecord.properties.ssn.pattern).toBe(
      '^\\d{3}-\\d{2}-\\d{4}$',
    );
  });

  it('/docs serves Swagger UI whose every asset loads from this server, pointing at /openapi.json', async () => {
    // Act
    const page = await call('GET', '/docs');
    const assets = [...page.text.matchAll(/(?:src|href)="(\/docs\/assets\/[^"]+)"/g)].map(
      (match) => match[1] as string,
    );
    const loaded = await Promise.all(
      assets.map(async (asset) => ({ asset, response: await call('GET', asset) })),
    );
    const initializer = loaded.find(
      ({ asset }) => asset.endsWith('.js') && !asset.includes('swagger-ui'),
    );

    // Assess
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.text).toContain('data-openapi-url="/openapi.json"');
    expect(assets.length).toBeGreaterThanOrEqual(4);
    for (const { asset, response } of loaded) {
      expect(response.status, asset).toBe(200);
      expect(response.text.length, asset).toBeGreaterThan(0);
    }
    expect(initializer?.response.text).toContain('SwaggerUIBundle');
    expect((await call('GET', '/docs/assets/..%2Fpackage.json')).status).toBe(404);
  });
});
