import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROUTES, type Route, SCOPES } from '../../lib/api/routes.ts';
import { call, token, waitForRun } from './api.ts';
import { launchBrowser, saveScreenshot } from './browser.ts';

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

describe('the docs page in Chromium', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('lists the operations without an error box, shows each status its own example and where a token comes from', async () => {
    // Prepare
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));

    // Act
    await page.goto(`${inject('apiUrl')}/docs`);
    await page.locator('.opblock').first().waitFor();
    const operations = await page.locator('.opblock').count();
    await saveScreenshot(page, 'docs');
    const getRun = page.locator('#operations-runs-getRun');
    await getRun.locator('.opblock-summary-control').click();
    const unauthorized = await getRun
      .locator('tr.response[data-code="401"] .microlight')
      .first()
      .textContent();
    const notFound = await getRun
      .locator('tr.response[data-code="404"] .microlight')
      .first()
      .textContent();
    const ingest = page.locator('#operations-ingest-ingestBatch');
    await ingest.locator('.opblock-summary-control').click();
    const accepted = await ingest
      .locator('tr.response[data-code="202"] .microlight')
      .first()
      .textContent();
    const requestExamples = await ingest.locator('.examples-select option').allTextContents();
    await page.locator('button.authorize').first().click();
    const authorize = await page.locator('.modal-ux').textContent();
    await page.locator('.modal-ux button.close-modal').click();

    // Assess
    expect(await page.locator('.errors-wrapper').count()).toBe(0);
    expect(pageErrors).toStrictEqual([]);
    expect(operations).toBe(DOCUMENTED_PATHS.length);
    expect(JSON.parse(unauthorized ?? '')).toMatchObject({
      type: 'urn:problem:healthcare-etl:unauthorized',
      status: 401,
    });
    expect(JSON.parse(notFound ?? '')).toMatchObject({
      type: 'urn:problem:healthcare-etl:run-not-found',
      status: 404,
    });
    expect(JSON.parse(accepted ?? '').links.self).toMatch(/^\/api\/v1\/runs\/[0-9a-f-]{36}$/);
    expect(requestExamples.length).toBeGreaterThanOrEqual(2);
    expect(authorize).toContain('npm run token');
    expect(authorize).toContain('identity provider');
    await page.close();
  });
});

describe('the ingest examples of the document', () => {
  it.each<[string, string, Record<string, number>]>([
    ['FlatRecord', 'application/json', { loaded: 1 }],
    ['FhirBundle', 'application/fhir+json', { loaded: 1, resourcesLoaded: 1 }],
    ['FhirBundle', 'application/json', { loaded: 1, resourcesLoaded: 1 }],
    ['NdjsonPair', 'application/fhir+ndjson', { loaded: 1 }],
  ])('%s sent as %s loads every record: %o', async (name, mediaType, loaded) => {
    // Prepare
    const bearer = await token([SCOPES.submitBatches]);
    const document = (await call('GET', '/openapi.json')).json;
    const { value } = document.components.examples[name];

    // Act
    const accepted = await call('POST', '/api/v1/ingest', {
      token: bearer,
      body: typeof value === 'string' ? value : JSON.stringify(value),
      headers: { 'content-type': mediaType },
    });
    const run = await waitForRun(accepted.json.runId, bearer);
    const rejections = await call('GET', `/api/v1/runs/${accepted.json.runId}/rejections`, {
      token: bearer,
    });

    // Assess
    expect(accepted.status).toBe(202);
    expect(run).toMatchObject({ status: 'succeeded', counts: loaded });
    expect(rejections.json.data).toStrictEqual([]);
  });
});
