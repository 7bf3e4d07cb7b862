import { Buffer } from 'node:buffer';
import { Script } from 'node:vm';
import { describe, expect, it } from 'vitest';
import {
  DOCS_CONTENT_SECURITY_POLICY,
  docsAsset,
  docsAssetResponse,
  docsPage,
  docsPageResponse,
} from '../../../lib/api/docs.ts';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

describe('docsPage', () => {
  const page = docsPage('/openapi.json');

  it.each([
    ['/docs/assets/swagger-ui.css'],
    ['/docs/assets/swagger-ui-bundle.js'],
    ['/docs/assets/swagger-ui-standalone-preset.js'],
    ['/docs/assets/init.js'],
    ['/docs/assets/favicon-32x32.png'],
  ])('references %s', (url) => {
    // Assess
    expect(page).toContain(`"${url}"`);
  });

  it('hands the document URL to the initializer through a data attribute', () => {
    // Assess
    expect(page).toContain('data-openapi-url="/openapi.json"');
  });

  it('has no inline script, which the CSP would block', () => {
    // Act
    const scripts = [...page.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];

    // Assess
    expect(scripts).toHaveLength(3);
    for (const [, attributes, content] of scripts) {
      expect(attributes).toMatch(/ src="\/docs\/assets\/[\w.-]+\.js"/);
      expect(content).toBe('');
    }
    expect(page).not.toMatch(/\son\w+=/i);
  });

  it('escapes the document URL', () => {
    // Act
    const hostile = docsPage('/openapi.json?a=1&b="><script>alert(1)</script>');

    // Assess
    expect(hostile).toContain(
      'data-openapi-url="/openapi.json?a=1&amp;b=&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"',
    );
    expect(hostile).not.toContain('<script>alert');
  });
});

describe('docsAsset', () => {
  it.each([
    ['swagger-ui.css', 'text/css; charset=utf-8', '.swagger-ui'],
    ['swagger-ui-bundle.js', 'text/javascript; charset=utf-8', 'SwaggerUIBundle'],
    [
      'swagger-ui-standalone-preset.js',
      'text/javascript; charset=utf-8',
      'SwaggerUIStandalonePreset',
    ],
    ['init.js', 'text/javascript; charset=utf-8', 'dataset.openapiUrl'],
  ])('serves %s as %s', (name, contentType, marker) => {
    // Act
    const asset = docsAsset(name);

    // Assess
    expect(asset).toMatchObject({ contentType, isBase64Encoded: false });
    expect(asset?.body.length).toBeGreaterThan(100);
    expect(asset?.body).toContain(marker);
  });

  it('serves the favicon base64-encoded', () => {
    // Act
    const asset = docsAsset('favicon-32x32.png');

    // Assess
    expect(asset).toMatchObject({ contentType: 'image/png', isBase64Encoded: true });
    const bytes = Buffer.from(asset?.body ?? '', 'base64');
    expect(bytes.subarray(0, PNG_SIGNATURE.length)).toStrictEqual(PNG_SIGNATURE);
  });

  it('reads each file once', () => {
    // Act
    const first = docsAsset('swagger-ui.css');
    const second = docsAsset('swagger-ui.css');

    // Assess
    expect(second).toBe(first);
  });

  it('initialises Swagger UI without the public validator or URL query config', () => {
    // Act
    const body = docsAsset('init.js')?.body ?? '';

    // Assess
    expect(body).toContain('validatorUrl: null');
    expect(body).toContain('queryConfigEnabled: false');
  });

  it('serves an initializer that is valid JavaScript', () => {
    // Act
    const compile = () => new Script(docsAsset('init.js')?.body ?? '', { filename: 'init.js' });

    // Assess
    expect(compile).not.toThrow();
  });

  it.each([
    ['../package.json'],
    ['..%2fpackage.json'],
    ['%2e%2e%2fpackage.json'],
    ['..\\package.json'],
    ['package.json'],
    ['swagger-ui.css/../package.json'],
    ['./swagger-ui.css'],
    ['/etc/passwd'],
    ['swagger-ui.css.map'],
    ['swagger-ui.css%00'],
    ['SWAGGER-UI.CSS'],
    ['index.html'],
    ['__proto__'],
    ['constructor'],
    [''],
  ])('refuses %s', (name) => {
    // Act
    const asset = docsAsset(name);

    // Assess
    expect(asset).toBeUndefined();
    expect(docsAssetResponse(name)).toBeUndefined();
  });
});

describe('docs responses', () => {
  it('serves the page as HTML under a CSP that allows scripts from this origin only', () => {
    // Act
    const response = docsPageResponse('/openapi.json');

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe(docsPage('/openapi.json'));
    expect(response.headers).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': DOCS_CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
    });
    const scriptSource = DOCS_CONTENT_SECURITY_POLICY.split(';')
      .map((directive) => directive.trim())
      .find((directive) => directive.startsWith('script-src'));
    expect(scriptSource).toBe("script-src 'self'");
    expect(DOCS_CONTENT_SECURITY_POLICY).toContain("default-src 'self'");
    expect(DOCS_CONTENT_SECURITY_POLICY).toContain("img-src 'self' data:");
    expect(DOCS_CONTENT_SECURITY_POLICY).toContain("style-src 'self' 'unsafe-inline'");
  });

  it.each([
    ['swagger-ui.css', 'text/css; charset=utf-8', false],
    ['favicon-32x32.png', 'image/png', true],
  ])('serves %s with its type, the security headers and caching', (name, contentType, binary) => {
    // Act
    const response = docsAssetResponse(name);

    // Assess
    expect(response).toMatchObject({
      statusCode: 200,
      isBase64Encoded: binary,
      body: docsAsset(name)?.body,
      headers: {
        'content-type': contentType,
        'content-security-policy': DOCS_CONTENT_SECURITY_POLICY,
        'x-content-type-options': 'nosniff',
        'cache-control': 'public, max-age=86400',
      },
    });
  });
});
